"""cloudports: topology spec -> cloud firewall rules."""

__version__ = "0.1.0"
