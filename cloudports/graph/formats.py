"""The output formats of `cloudports graph`, apart from the renderers: the CLI offers them without importing the
graph's model (and the spec model with it), which `--help` does not need."""

from __future__ import annotations

from enum import StrEnum


class GraphFormat(StrEnum):
    mermaid = "mermaid"
    dot = "dot"
    svg = "svg"
    html = "html"
