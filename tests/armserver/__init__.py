"""A local Azure Resource Manager server (Microsoft.Network security resources) for the test suite.

``from tests.armserver import ArmServer``; see README.md in this directory.
"""

from .errors import ArmError
from .server import ArmServer

__all__ = ["ArmError", "ArmServer"]
