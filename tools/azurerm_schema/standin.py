"""A schema-only stand-in for the hashicorp/azurerm Terraform provider, for tests: validate and plan, nothing else.

It serves the schema in azurerm.schema.json (extracted from the provider's published bindings by extract.py)
through the `tf` framework (Python, Terraform plugin protocol 6), so `terraform validate` and `terraform plan`
check cloudports' Azure configuration against the real argument names, types and Required/Optional/Computed
flags. Planned values of computed attributes are unknown, as with the real provider before apply.
It never calls Azure: apply, import and refresh of existing objects fail with an error saying so, and the one
data source (azurerm_client_config) answers with a fixed, obviously fake identity.

Terraform runs it as `terraform-provider-azurerm_v<version>` from a filesystem mirror; the test fixture writes
that executable (a two-line shell script running this file with the test's Python).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from tf import runner, schema, types
from tf.gen import tfplugin_pb2 as pb
from tf.iface import Config, CreateContext, DataSource, ReadDataContext, Resource, State
from tf.utils import Diagnostics

SCHEMA_FILE = Path(__file__).with_name("azurerm.schema.json")
FAKE_IDENTITY = {
    "client_id": "00000000-0000-0000-0000-00000000c11e",
    "object_id": "00000000-0000-0000-0000-0000000000b1",
    "subscription_id": "00000000-0000-0000-0000-000000000000",
    "tenant_id": "00000000-0000-0000-0000-0000000000a1",
}
PLAN_ONLY = "the azurerm stand-in (tools/azurerm_schema/standin.py) only validates and plans"


class Object(types.TfType):
    """cty object type (tf ships primitives and collections only); values are plain dicts on the wire."""

    def __init__(self, attributes: dict[str, types.TfType]) -> None:
        self.attributes = attributes

    def encode(self, value: Any) -> Any:
        return value

    def decode(self, value: Any) -> Any:
        return value

    def tf_type(self) -> bytes:
        inner = ",".join(f'"{k}":{t.tf_type().decode()}' for k, t in sorted(self.attributes.items()))
        return f'["object",{{{inner}}}]'.encode()


def cty(spec: Any) -> types.TfType:
    """A tf type from the JSON type notation of `terraform providers schema -json`."""
    if isinstance(spec, str):
        return {"string": types.String(), "number": types.Number(), "bool": types.Bool()}[spec]
    kind, inner = spec
    if kind == "object":
        return Object({k: cty(v) for k, v in inner.items()})
    return {"list": types.List, "set": types.Set, "map": types.Map}[kind](cty(inner))


class Nested(schema.NestedBlock):
    """A nested block of any nesting mode (tf's own NestedBlock knows set and single only).

    Values pass through untouched: the stand-in never changes a block, it only plans what the config says.
    """

    _modes = {
        "single": pb.Schema.NestedBlock.NestingMode.SINGLE,
        "list": pb.Schema.NestedBlock.NestingMode.LIST,
        "set": pb.Schema.NestedBlock.NestingMode.SET,
    }

    def __init__(self, name: str, spec: dict[str, Any]) -> None:
        super().__init__(name, schema.NestMode.Set, block(spec["block"]), spec.get("min_items"), spec.get("max_items"))
        self.mode = spec["nesting_mode"]

    def to_pb(self) -> pb.Schema.NestedBlock:
        message = super().to_pb()
        message.nesting = self._modes[self.mode]
        return message

    def encode(self, value: Any) -> Any:
        return value

    def decode(self, value: Any) -> Any:
        return value

    def semantically_equal(self, a_decoded: Any, b_decoded: Any) -> bool:
        return bool(a_decoded == b_decoded)


def _attributes(spec: dict[str, Any]) -> list[schema.Attribute]:
    return [
        schema.Attribute(
            name,
            cty(a["type"]),
            required=a.get("required", False),
            optional=a.get("optional", False),
            computed=a.get("computed", False),
            sensitive=a.get("sensitive", False),
        )
        for name, a in sorted(spec.get("attributes", {}).items())
    ]


def block(spec: dict[str, Any]) -> schema.Block:
    nested = [Nested(name, b) for name, b in sorted(spec.get("block_types", {}).items())]
    return schema.Block(attributes=_attributes(spec), block_types=nested)


def to_schema(spec: dict[str, Any]) -> schema.Schema:
    return schema.Schema(
        version=spec.get("version", 0),
        attributes=_attributes(spec["block"]),
        block_types=[Nested(n, b) for n, b in sorted(spec["block"].get("block_types", {}).items())],
    )


class PlanOnlyResource(Resource):
    """Base of the generated resource classes: plans (tf does that from the schema), refuses to apply."""

    type_name = ""
    tf_schema = schema.Schema()

    def __init__(self, provider: Any) -> None:
        self.provider = provider

    @classmethod
    def get_name(cls) -> str:
        return cls.type_name.removeprefix("azurerm_")

    @classmethod
    def get_schema(cls) -> schema.Schema:
        return cls.tf_schema  # built once: tf asks for it on every validate call

    def create(self, ctx: CreateContext, planned: State) -> State | None:
        ctx.diagnostics.add_error(f"cannot create {self.type_name}", PLAN_ONLY)
        return None

    def read(self, ctx: Any, current: State) -> State | None:
        return current  # refresh keeps what the state says: there is no Azure behind this provider

    def update(self, ctx: Any, current: State, planned: State) -> State | None:
        ctx.diagnostics.add_error(f"cannot update {self.type_name}", PLAN_ONLY)
        return None

    def delete(self, ctx: Any, current: State) -> None:
        ctx.diagnostics.add_error(f"cannot delete {self.type_name}", PLAN_ONLY)


class ClientConfig(DataSource):
    """azurerm_client_config with a fixed fake identity (the emitted roots build subnet IDs from it)."""

    tf_schema = schema.Schema()

    def __init__(self, provider: Any) -> None:
        self.provider = provider

    @classmethod
    def get_name(cls) -> str:
        return "client_config"

    @classmethod
    def get_schema(cls) -> schema.Schema:
        return cls.tf_schema

    def read(self, ctx: ReadDataContext, config: Config) -> State | None:
        return {**config, **FAKE_IDENTITY, "id": "Y2xpZW50Q29uZmlncy9zdGFuZC1pbg=="}


class AzurermStandIn:
    """The tf Provider: names, schemas, and no configuration to act on."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.resources = [
            type(name, (PlanOnlyResource,), {"type_name": name, "tf_schema": to_schema(spec)})
            for name, spec in sorted(document["resource_schemas"].items())
        ]
        unknown = set(document["data_source_schemas"]) - {"azurerm_client_config"}
        if unknown:
            raise SystemExit(f"the stand-in has no data for data sources {sorted(unknown)}")
        ClientConfig.tf_schema = to_schema(document["data_source_schemas"]["azurerm_client_config"])

    def get_model_prefix(self) -> str:
        return "azurerm_"

    def full_name(self) -> str:
        return "registry.terraform.io/hashicorp/azurerm"

    def get_provider_schema(self, diags: Diagnostics) -> schema.Schema:
        return to_schema(self.document["provider"])

    def validate_config(self, diags: Diagnostics, config: Config) -> None:
        return None

    def configure_provider(self, diags: Diagnostics, config: Config) -> None:
        return None

    def get_data_sources(self) -> list[type[DataSource]]:
        return [ClientConfig]

    def get_resources(self) -> list[type[Resource]]:
        return list(self.resources)

    def get_functions(self) -> list[Any]:
        return []

    def new_resource(self, klass: type[Resource]) -> Resource:
        return klass(self)  # type: ignore[call-arg]

    def new_data_source(self, klass: type[DataSource]) -> DataSource:
        return klass(self)  # type: ignore[call-arg]


def main() -> None:
    runner.run_provider(AzurermStandIn(json.loads(SCHEMA_FILE.read_text())), sys.argv)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
