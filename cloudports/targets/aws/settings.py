"""The spec's `targets.aws` block."""

from __future__ import annotations

from pydantic import Field

from cloudports.targets.base import TargetSettings


class AwsSettings(TargetSettings):
    region: str = "us-east-1"
    vpc_id: str | None = Field(default=None, pattern=r"^vpc-[0-9a-f]+$")
    name_prefix: str = ""
    tags: dict[str, str] = {}
    max_rules_per_group: int = Field(default=60, ge=1, le=1000)
