"""A local Azure Resource Manager server for Microsoft.Network security resources (standard library only).

``from cloudports.emulators.arm import ArmServer``; see README.md in this directory.
"""

from .errors import ArmError
from .server import ArmServer

__all__ = ["ArmError", "ArmServer"]
