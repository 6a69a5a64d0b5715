"""Local emulators of the clouds cloudports talks to, for tests and for trying cloudports without an account.

- :mod:`cloudports.emulators.arm`: a local Azure Resource Manager for Microsoft.Network security resources
  (standard library only; ``python -m cloudports.emulators.arm``).
- :mod:`cloudports.emulators.aws`: moto as a real HTTP server on 127.0.0.1 with corrections that make its EC2
  security groups behave like AWS (needs the ``emulators`` extra; ``python -m cloudports.emulators.aws``).

Both are standalone: they import nothing from the rest of cloudports, and cloudports does not import them.
"""
