"""Azure NSGs and ASGs (see target.py); registered in cloudports/targets/registry.py.

TARGET is made on first use (module __getattr__): the CLI reads this target's options from options.py for every
command, and importing the package must not load the target with its settings model (pydantic).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cloudports.targets.azure.target import AzureTarget

    TARGET: AzureTarget


def __getattr__(name: str) -> Any:
    if name == "TARGET":
        from cloudports.targets.azure.target import AzureTarget

        target = globals()["TARGET"] = AzureTarget()  # one instance, however often asked for
        return target
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
