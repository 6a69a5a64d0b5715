"""The shape of spec and catalog files, as pydantic models.

These models check structure and types only (and give `cloudports schema` its JSON Schema); meaning — names
that must exist, CIDRs, ports, parameters — is checked by the loader, which knows positions and can suggest fixes.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, create_model

from cloudports.targets import registry

NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$"
SERVICE_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,62}$"
PARAM_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,62}$"

Name = Annotated[str, Field(pattern=NAME_PATTERN, description="lower-case letters, digits and '-'")]
ParamValue = StrictInt | str  # strict: YAML 'true'/'on' must not become port 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class PortLong(_Strict):
    """Long form of a port: {protocol: tcp, port: 443} or {protocol: tcp, from: 1, to: 9} or ICMP type/code."""

    protocol: Literal["tcp", "udp", "icmp", "icmpv6", "all"]
    port: ParamValue | None = None
    from_: ParamValue | None = Field(default=None, alias="from")
    to: ParamValue | None = None
    type: int | None = Field(default=None, ge=0, le=255)
    code: int | None = Field(default=None, ge=0, le=255)


PortItem = Annotated[
    str | PortLong,
    Field(description="service name or inline port such as tcp/443, udp/1000-2000, icmp/8, all"),
]


class ParameterDecl(_Strict):
    default: ParamValue | None = None
    description: str = ""
    source: str | None = None


class Network(_Strict):
    description: str = ""
    ipv4: list[str] = []
    ipv6: list[str] = []


class Role(_Strict):
    description: str = ""
    # Replaced in spec_file_model() by a model with one field per target that can place machines in roles
    # (`members.aws`, `members.azure`: that target's members_model), as for `targets` below.
    members: Any = None


class Service(_Strict):
    description: str = ""
    ports: list[PortItem] = []
    services: list[str] = Field(default=[], description="other services this one is made of")
    sources: list[str] = []
    optional: bool = False
    legacy: bool = False


class Flow(_Strict):
    from_: Name | list[Name] = Field(alias="from")
    to: Name | list[Name]
    services: list[PortItem] = Field(min_length=1)
    description: str = ""
    phase: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9-]*$")
    allow_exposure: str | None = Field(
        default=None, description="why exposing a risky port to the internet is acceptable here"
    )


class SpecFile(_Strict):
    """One topology file. Included files use the same shape but may not set name, egress or targets."""

    name: Name | None = None
    description: str = ""
    include: list[str] = []
    catalogs: list[str] = []
    egress: Literal["open", "strict"] | None = None
    parameters: dict[Annotated[str, Field(pattern=PARAM_PATTERN)], ParamValue | ParameterDecl] = {}
    networks: dict[Name, Network] = {}
    roles: dict[Name, Role] = {}
    services: dict[Annotated[str, Field(pattern=SERVICE_PATTERN)], Service] = {}
    flows: list[Flow] = []
    # Replaced in spec_file_model() by a model with one field per registered target (its settings model).
    targets: Any = None


class SourceRef(_Strict):
    title: str
    url: str | None = None
    repo: str | None = None
    path: str | None = None
    commit: str | None = None
    note: str | None = None
    checked_copy: str | None = None


class CatalogFile(_Strict):
    catalog: str
    description: str = ""
    requires: list[str] = []
    sources: dict[str, SourceRef] = {}
    parameters: dict[str, ParameterDecl] = {}
    services: dict[Annotated[str, Field(pattern=SERVICE_PATTERN)], Service] = {}


def spec_file_model() -> type[SpecFile]:
    """SpecFile with `targets` typed by the registered targets' settings models (`targets.aws`, ...)."""
    return _spec_file_model(registry.names())


@cache
def _spec_file_model(names: tuple[str, ...]) -> type[SpecFile]:
    targets = [registry.get(name) for name in names]
    settings: dict[str, Any] = {t.name: (t.settings_model | None, None) for t in targets}
    members: dict[str, Any] = {t.name: (t.members_model | None, None) for t in targets if t.members_model}
    targets_model = create_model("Targets", __base__=_Strict, **settings)
    members_model = create_model(
        "Members",
        __base__=_Strict,
        __doc__="Which running machines carry this role, per cloud (a role without members: none are managed)",
        **members,
    )
    # Field definitions go through a dict typed Any: pydantic >= 2.14 types `create_model`'s keyword arguments as
    # TypeForms, which a union built at run time is not (mypy refuses it; it is valid at run time on every version).
    role_fields: dict[str, Any] = {"members": (members_model | None, None)}
    role = create_model("Role", __base__=Role, **role_fields)
    return create_model(
        "SpecFile",
        __base__=SpecFile,
        targets=(targets_model, targets_model()),
        roles=(dict[Name, role], {}),  # type: ignore[valid-type]
    )


def spec_json_schema() -> dict[str, Any]:
    schema = spec_file_model().model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "cloudports topology spec"
    return schema
