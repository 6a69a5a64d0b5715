"""Extract the azurerm provider schema cloudports needs from the @cdktn/provider-azurerm npm package.

No azurerm provider binary can be installed on the build machine, but the prebuilt CDK Terrain bindings
carry the provider's schema: each resource's generated TypeScript source (inlined as a source map in
lib/<resource>/index.js) marks every attribute with a line

    // <name> - computed: <bool>, optional: <bool>, required: <bool>

followed by a getter whose body gives the type, and the provider's config interface lists its arguments.
This script turns that into the JSON shape of `terraform providers schema -json` for the provider, the
resources and the data sources listed below, which tools/azurerm_schema/standin.py serves to Terraform.

Reproduce the checked-in file (network access to the npm registry needed once):

    cd "$(mktemp -d)" && npm pack @cdktn/provider-azurerm@16.1.0 && tar xzf cdktn-provider-azurerm-16.1.0.tgz
    python /path/to/cloudports/tools/azurerm_schema/extract.py package \
        > /path/to/cloudports/tools/azurerm_schema/azurerm.schema.json
"""

from __future__ import annotations

import base64
import json
import re
import sys
from pathlib import Path
from typing import Any

# What modules/azure-nsg and the emitted Azure roots use. Add a name here when they start using another.
RESOURCES = (
    "azurerm_network_security_group",
    "azurerm_network_security_rule",
    "azurerm_application_security_group",
    "azurerm_subnet_network_security_group_association",
)
DATA_SOURCES = ("azurerm_client_config",)

_FLAGS = re.compile(r"^\s*// (\w+) - computed: (true|false), optional: (true|false), required: (true|false)$")
_CLASS = re.compile(r"^export class (\w+) extends cdktn\.(\w+)")
_INTERFACE = re.compile(r"^export interface (\w+) \{")
_GETTER_TYPES = {
    "getStringAttribute": "string",
    "getNumberAttribute": "number",
    "getBooleanAttribute": "bool",
    "getListAttribute": ["list", "string"],
    "getNumberListAttribute": ["list", "number"],
    "getStringMapAttribute": ["map", "string"],
    "getNumberMapAttribute": ["map", "number"],
    "getBooleanMapAttribute": ["map", "bool"],
}


def typescript_source(package: Path, folder: str) -> str:
    """The generated TypeScript of one binding, from the source map inlined in its index.js."""
    js = (package / "lib" / folder / "index.js").read_text()
    match = re.search(r"sourceMappingURL=data:application/json;base64,(\S+)", js)
    if match is None:
        raise SystemExit(f"{folder}: no inline source map")
    return str(json.loads(base64.b64decode(match.group(1)))["sourcesContent"][0])


def _split(source: str, pattern: re.Pattern[str]) -> dict[str, list[str]]:
    """Top-level declarations matching pattern -> their lines (up to the next top-level declaration)."""
    parts: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in source.splitlines():
        match = pattern.match(line)
        if match:
            current = parts.setdefault(match.group(1), [])
        elif line.startswith("export "):
            current = None
        if current is not None:
            current.append(line)
    return parts


def _attribute_type(body: list[str]) -> Any:
    """The cty type of a primitive/collection attribute from its getter body (None for nested objects)."""
    text = " ".join(body)
    for getter, cty in _GETTER_TYPES.items():
        if f"this.{getter}(" in text:
            if getter == "getListAttribute" and "Fn.tolist(" in text:
                return ["set", "string"]  # the generator wraps set-typed attributes in tolist()
            return cty
    return None


def _nested_class(body: list[str]) -> tuple[str, str] | None:
    """(class, nesting) of a nested object attribute: `new FooOutputReference(...)` or `new FooList(..., isSet)`."""
    for line in body:
        match = re.search(r"= new (\w+)\(this, \"\w+\"(, (true|false))?\)", line)
        if match:
            if match.group(1).endswith("OutputReference"):
                return match.group(1), "single"
            return match.group(1)[: -len("List")] + "OutputReference", "set" if match.group(3) == "true" else "list"
    return None


def _members(lines: list[str]) -> list[tuple[str, dict[str, bool], list[str]]]:
    """(name, flags, following lines) for every attribute comment in a class."""
    found = []
    for i, line in enumerate(lines):
        match = _FLAGS.match(line)
        if match:
            flags = dict(
                zip(("computed", "optional", "required"), (v == "true" for v in match.groups()[1:]), strict=True)
            )
            found.append((match.group(1), flags, lines[i + 1 : i + 8]))
    return found


def class_block(classes: dict[str, list[str]], name: str) -> dict[str, Any]:
    """The schema block of a generated class: attributes, and nested blocks for non-computed objects."""
    attributes: dict[str, Any] = {}
    block_types: dict[str, Any] = {}
    for attr, flags, body in _members(classes[name]):
        set_flags = {k: True for k, v in flags.items() if v}
        cty = _attribute_type(body)
        if cty is not None:
            attributes[attr] = {"type": cty, **set_flags}
            continue
        nested = _nested_class(body)
        if nested is None:
            raise SystemExit(f"{name}.{attr}: cannot tell the type from {body}")
        inner = class_block(classes, nested[0])
        if flags["computed"]:
            # An Optional+Computed object list (SDKv2 ConfigMode: Attr, e.g. the NSG's security_rule) is an
            # attribute of object type in Terraform's schema, not a nested block.
            element = ["object", {k: v["type"] for k, v in inner["attributes"].items()}]
            attributes[attr] = {"type": [nested[1] if nested[1] != "single" else "list", element], **set_flags}
        else:
            block_types[attr] = {"nesting_mode": nested[1], "block": inner} | (
                {"min_items": 1} if flags["required"] else {}
            )
    return {"attributes": attributes} | ({"block_types": block_types} if block_types else {})


_PRIMITIVES: dict[str, Any] = {
    "string": "string",
    "number": "number",
    "boolean | cdktn.IResolvable": "bool",
    "string[]": ["list", "string"],
    "number[]": ["list", "number"],
    "{ [key: string]: string }": ["map", "string"],
}


def interface_block(interfaces: dict[str, list[str]], name: str) -> dict[str, Any]:
    """The schema block of a config interface (the provider's arguments: nothing there is computed)."""
    attributes: dict[str, Any] = {}
    block_types: dict[str, Any] = {}
    snake = ""
    for line in interfaces[name]:
        link = re.search(r"#(\w+) \w+#\w+\}", line)
        if link:
            snake = link.group(1)
        prop = re.match(r"^\s*readonly \w+(\??): (.+);$", line)
        if not prop or not snake:
            continue
        required, ts_type = prop.group(1) != "?", prop.group(2)
        flag = {"required": True} if required else {"optional": True}
        if ts_type in _PRIMITIVES:
            attributes[snake] = {"type": _PRIMITIVES[ts_type], **flag}
        else:
            inner_name = ts_type.split("[]")[0]
            nesting = "list" if "[]" in ts_type else "single"
            block = {"nesting_mode": nesting, "block": interface_block(interfaces, inner_name)}
            block_types[snake] = block | ({"min_items": 1} if required else {})
        snake = ""
    return {"attributes": attributes} | ({"block_types": block_types} if block_types else {})


def _folder(type_name: str, data: bool) -> str:
    bare = type_name.removeprefix("azurerm_").replace("_", "-")
    return f"data-azurerm-{bare}" if data else bare


def _main_class(classes: dict[str, list[str]], base: str) -> str:
    (name,) = [n for n, lines in classes.items() if _CLASS.match(lines[0]) and f"cdktn.{base} " in lines[0]]
    return name


def _version(source: str) -> str:
    match = re.search(r"providerVersion: '([0-9.]+)'", source)
    if match is None:
        raise SystemExit("no providerVersion in the bindings")
    return match.group(1)


def extract(package: Path) -> dict[str, Any]:
    """The schema document: provider, resource_schemas, data_source_schemas (terraform's JSON shape)."""
    provider_source = typescript_source(package, "provider")
    schema: dict[str, Any] = {
        "provider_version": _version(provider_source),
        "extracted_from": f"@cdktn/provider-azurerm@{json.loads((package / 'package.json').read_text())['version']}",
        "provider": {
            "version": 0,
            "block": interface_block(_split(provider_source, _INTERFACE), "AzurermProviderConfig"),
        },
        "resource_schemas": {},
        "data_source_schemas": {},
    }
    for names, data, key, base in (
        (RESOURCES, False, "resource_schemas", "TerraformResource"),
        (DATA_SOURCES, True, "data_source_schemas", "TerraformDataSource"),
    ):
        for type_name in names:
            classes = _split(typescript_source(package, _folder(type_name, data)), _CLASS)
            schema[key][type_name] = {"version": 0, "block": class_block(classes, _main_class(classes, base))}
    return schema


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    json.dump(extract(Path(argv[1])), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
