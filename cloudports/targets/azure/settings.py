"""The spec's `targets.azure` block."""

from __future__ import annotations

from pydantic import Field

from cloudports.targets.base import TargetSettings


class AzureSubnet(TargetSettings):
    virtual_network: str
    name: str
    resource_group: str | None = None


class AzureSettings(TargetSettings):
    location: str = "westeurope"
    resource_group: str | None = None
    nsg_name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,78}[A-Za-z0-9_])?$")
    subnets: list[AzureSubnet] = []
    tags: dict[str, str] = {}
