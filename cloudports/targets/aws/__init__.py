"""AWS security groups (see target.py); registered in cloudports/targets/registry.py.

TARGET is made on first use (module __getattr__): the CLI reads this target's options from options.py for every
command, and importing the package must not load the target with its settings model (pydantic).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cloudports.targets.aws.target import AwsTarget

    TARGET: AwsTarget


def __getattr__(name: str) -> Any:
    if name == "TARGET":
        from cloudports.targets.aws.target import AwsTarget

        target = globals()["TARGET"] = AwsTarget()  # one instance, however often asked for
        return target
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
