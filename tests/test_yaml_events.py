"""The two ways yamlpos builds a position tree agree: straight from the events (plain documents, fast) and from
a composed node tree (everything else). Same values, same positions, same budget spent, same errors."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from cloudports.errors import SpecError
from cloudports.spec import yamlpos
from cloudports.spec.postree import PosDict, PosList
from cloudports.spec.yamlpos import YamlBudget, load_yaml
from tests.test_fuzz import SEED_SPECS, SNIPPETS, fuzz_case

REPO = Path(__file__).resolve().parent.parent

# Every kind of scalar PyYAML resolves (YAML 1.1: yes/no/on/off, sexagesimal, .inf), every scalar style, flow
# and block collections, keys that are not strings, and what must go to the general builder.
SCALARS = """\
a: plain
b: 'single ''quoted'''
c: "double \\t quoted"
d: |
  literal
  block
e: >
  folded
  block
f: [1, -2, +3, 0o17, 017, 0x1F, 0b101, 1_000, '1', "2", 190:20:30]
g: [1.5, -.inf, .NaN, 6.8523015e+5, 1_2.3]
h: [yes, No, on, OFF, true, False, y, n]
i: [~, null, Null, '', ]
j: [2001-12-14, 2001-12-14t21:59:43.10-05:00, 2001-12-14 21:59:43.10]
k: {1: one, 2.5: two, false: three, null: four, 2001-01-01: five}
l: [[a, [b, {c: [d]}]], {}, []]
m:
n: ünïcødé ✓
"quoted key": x
? complex plain key
: value
"""
UNUSUAL = [
    "a: &x 1\nb: *x\n",
    "a: !!str 1\n",
    "a: !custom 1\n",
    "a: ! 1\n",
    "a: {<<: {b: 1}}\n",
    "a: =\n",
    "a: 1\na: 2\n",
    "[a]: 1\n",
    "a: 1\n---\nb: 2\n",
    "",
    "# only a comment\n",
    "a: [1, 2\n",
    "a: 2001-13-45\n",
    "a: " + "[" * 70 + "]" * 70 + "\n",
]


def _same(a: Any, b: Any, where: str = "") -> None:
    assert type(a) is type(b), where
    if isinstance(a, PosDict):
        assert (a.loc, a.key_locs, a.value_locs, list(a)) == (b.loc, b.key_locs, b.value_locs, list(b)), where
        for key in a:
            _same(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, PosList):
        assert (a.loc, a.item_locs, len(a)) == (b.loc, b.item_locs, len(b)), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b), where
    else:
        assert a == b, where


def _outcome(path: Path, general: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, int]:
    """(value or rendered SpecError, nodes left in the budget) by one builder or the other."""
    with monkeypatch.context() as patch:
        if general:
            patch.setattr(yamlpos, "_from_events", lambda *args: yamlpos._UNUSUAL)
        budget = YamlBudget()
        try:
            return load_yaml(path, budget=budget), budget.nodes
        except SpecError as exc:
            return str(exc), budget.nodes


def _agree(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fast, fast_left = _outcome(path, False, monkeypatch)
    general, general_left = _outcome(path, True, monkeypatch)
    _same(fast, general)
    assert fast_left == general_left


def test_scalars_and_styles_build_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(SCALARS)
    assert yamlpos._from_events(str(path), SCALARS, YamlBudget()) is not yamlpos._UNUSUAL  # the fast path ran
    _agree(path, monkeypatch)


@pytest.mark.parametrize("text", UNUSUAL + SNIPPETS, ids=range(len(UNUSUAL) + len(SNIPPETS)))
def test_unusual_documents_are_left_to_the_general_builder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    path = tmp_path / "u.yaml"
    path.write_text(text)
    if text in UNUSUAL:
        assert yamlpos._from_events(str(path), text, YamlBudget()) is yamlpos._UNUSUAL
    _agree(path, monkeypatch)


def test_examples_catalogs_and_mutated_specs_build_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for path in [*SEED_SPECS, *sorted((REPO / "cloudports" / "catalogs").glob("*.yaml"))]:
        _agree(path, monkeypatch)
    for index in range(150):
        path = tmp_path / f"case{index}.yaml"
        path.write_bytes(fuzz_case(7, index)[0])
        _agree(path, monkeypatch)


def test_the_node_budget_counts_alike_and_names_the_same_value(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("a: [" + ", ".join(["x"] * 50) + "]\n")
    monkeypatch.setattr(yamlpos, "MAX_NODES", 40)
    _agree(path, monkeypatch)
    assert "more than 40 values" in _outcome(path, False, monkeypatch)[0]
