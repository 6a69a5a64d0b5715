"""Robustness on any input: specs mutated from the examples never escape as anything but a SpecError.

The mutator is seeded (reproducible in CI) and aims at the defect classes a 10,000-case fuzzing run found:
non-UTF-8 bytes, control characters, recursive aliases, alias bombs, bad tagged scalars, deep nesting,
includes of special/huge/looping/unnamable files and schema aliases used by field name. benchmarks/fuzz_spec.py
runs the same mutator at scale in subprocesses (with memory and time limits) and prints figures.
"""

from __future__ import annotations

import os
import random
import re
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloudports.errors import CloudportsError, Diagnostic
from cloudports.pipeline import compile_spec
from cloudports.spec.loader import load_topology
from cloudports.spec.schema import spec_file_model
from cloudports.spec.variables import parse_var_options

REPO = Path(__file__).resolve().parent.parent
SEED_SPECS = sorted(REPO.glob("examples/*/topology.yaml"))

_BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8)
)
# Snippets inserted at the start of a line: each reproduces one crash or hang signature of the fuzzing run.
SNIPPETS = [
    "zz: &r {a: *r}\n",
    "zz: &r [*r]\n",
    "m: &m {<<: *m}\n",
    "m: &m {a: 1}\nn: {<<: [*m, *m], a: 2}\n",
    "<<: *nope\n",
    "x: !!float abc\n",
    "x: !!int\n",
    "x: !!int 0x\n",
    "x: !!timestamp 2020-13-45\n",
    "x: !!bool maybe\n",
    "x: !!binary '%%%'\n",
    "x: !!python/object/apply:os.system [true]\n",
    "x: !!set {a, b}\n",
    "x: " + "[" * 990 + "\n",
    "x: " + "[" * 990 + "]" * 990 + "\n",
    "x: " + "{a: " * 400 + "1" + "}" * 400 + "\n",
    _BOMB,
    "include: [/dev/zero]\n",
    "include: [/proc/self/status]\n",
    'include: ["a\\0b.yaml"]\n',
    "include: [" + "x" * 5000 + ".yaml]\n",
    "include: [loop1.yaml]\n",
    "include: [sparse.yaml]\n",
    "include: [fifo.yaml]\n",
    "include: [subdir]\n",
    "include: [case.yaml]\n",
    "flows:\n  - {from_: web, to: db, services: [tcp/1]}\n",
    "flows:\n  - {from: web, to: db, services: [{protocol: tcp, from_: 1, to: 2}]}\n",
    "parameters: {p: !!float nan}\n",
    "? [a, b]\n: c\n",
    "1: 2\n",
    "\x00",
    "\x01",
    "\ufeff",
    "\t",
]
# Replacement values for `key: value` positions.
VALUES = [
    "",
    "~",
    "[]",
    "{}",
    "true",
    "-1",
    "99999",
    "1e400",
    "tcp/99999",
    "tcp/${nope}",
    "${app_port}",
    "icmp/3:",
    "::/0",
    "10.0.0.1/33",
    "'x' * 2",
    "*undefined",
    "&a",
    "!!str",
    "!!float abc",
    "[[[[[",
    "'\\xff'",
    '"\\uD800"',
    "web",
    "internet",
    "x" * 300,
]
VAR_OPTIONS = [
    "app_port=8080",
    "app_port=http",
    "app_port=99999",
    "app_port=-1",
    "app_port=",
    "d365_web_port=5555",
    "nosuch=1",
    "=1",
    "noequals",
    " spaced name =1",
    "a=b=c",
]
_SCALAR = re.compile(rb": [^\n{}\[\],]+")


def make_workdir(directory: Path) -> Path:
    """Files the include snippets point at: a symlink loop, a sparse 2 GiB file, a FIFO, a folder."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, target in (("loop1.yaml", "loop2.yaml"), ("loop2.yaml", "loop1.yaml")):
        if not (directory / name).is_symlink():
            (directory / name).symlink_to(target)
    with open(directory / "sparse.yaml", "wb") as handle:
        handle.truncate(2 << 30)
    if not (directory / "fifo.yaml").exists():
        os.mkfifo(directory / "fifo.yaml")
    (directory / "subdir").mkdir(exist_ok=True)
    return directory


def _insert_snippet(rng: random.Random, data: bytes) -> bytes:
    starts = [0] + [m.end() for m in re.finditer(rb"\n", data)]
    at = rng.choice(starts)
    return data[:at] + rng.choice(SNIPPETS).encode("utf-8") + data[at:]


def _replace_value(rng: random.Random, data: bytes) -> bytes:
    spots = list(_SCALAR.finditer(data))
    if not spots:
        return data
    m = rng.choice(spots)
    return data[: m.start()] + b": " + rng.choice(VALUES).encode("utf-8") + data[m.end() :]


def _bytes(rng: random.Random, data: bytes) -> bytes:
    at = rng.randrange(len(data) + 1)
    junk = bytes(rng.randrange(256) for _ in range(rng.randint(1, 4)))
    return data[:at] + junk + data[at + rng.randint(0, 2) :]


def _lines(rng: random.Random, data: bytes) -> bytes:
    lines = data.split(b"\n")
    i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
    choice = rng.randrange(4)
    if choice == 0:
        del lines[i]
    elif choice == 1:
        lines.insert(i, lines[j])
    elif choice == 2:
        lines[i], lines[j] = lines[j], lines[i]
    else:
        lines[i] = b"  " + lines[i]
    return b"\n".join(lines)


def _truncate(rng: random.Random, data: bytes) -> bytes:
    return data[: rng.randrange(len(data) + 1)]


MUTATIONS: list[Callable[[random.Random, bytes], bytes]] = [_insert_snippet, _replace_value, _bytes, _lines, _truncate]
_WEIGHTS = [4, 4, 2, 2, 1]


def fuzz_case(seed: int, index: int) -> tuple[bytes, list[str], str | None]:
    """Case `index` of run `seed`: spec bytes, --var options and phase; the same every time."""
    rng = random.Random(f"{seed}:{index}")
    data = SEED_SPECS[index % len(SEED_SPECS)].read_bytes()
    for _ in range(rng.randint(1, 3)):
        data = rng.choices(MUTATIONS, _WEIGHTS)[0](rng, data)
    options = rng.sample(VAR_OPTIONS, rng.randint(0, 2)) if rng.random() < 0.3 else []
    phase = rng.choice([None, None, "setup", "setpu"])
    return data, options, phase


def located(diag: Diagnostic) -> bool:
    """An error says where (file:line:col) or names the command-line option it is about."""
    return diag.loc is not None or diag.message.startswith(("--var ", "--phase "))


def run_case(workdir: Path, data: bytes, options: list[str], phase: str | None) -> str:
    """'ok' or 'error'; raises AssertionError for a diagnostic without a place, anything else escapes."""
    path = workdir / "case.yaml"
    path.write_bytes(data)
    try:
        variables = parse_var_options(options)
        compile_spec(path, variables, phase)
    except CloudportsError as exc:
        errors = [d for d in exc.diagnostics if d.severity == "error"]
        unlocated = [d.render() for d in errors if not located(d)]
        assert not unlocated, f"unlocated: {unlocated}"
        unhinted = [d.message for d in errors if not d.hint]
        assert not unhinted, f"unhinted: {unhinted}"
        return "error"
    return "ok"


# Per-case bounds the suite enforces (generous for slow CI machines; typical cases take milliseconds).
CASE_SECONDS = 3.0
CASE_PEAK_BYTES = 100 << 20


def test_mutated_examples_only_raise_spec_errors(tmp_path: Path) -> None:
    workdir = make_workdir(tmp_path / "fuzz")
    outcomes: dict[str, int] = {}
    tracemalloc.start()
    try:
        for index in range(300):
            data, options, phase = fuzz_case(20240601, index)
            tracemalloc.reset_peak()
            started = time.perf_counter()
            outcome = run_case(workdir, data, options, phase)
            elapsed = time.perf_counter() - started
            peak = tracemalloc.get_traced_memory()[1]
            assert elapsed < CASE_SECONDS, f"case {index} took {elapsed:.1f} s"
            assert peak < CASE_PEAK_BYTES, f"case {index} peaked at {peak >> 20} MiB"
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
    finally:
        tracemalloc.stop()
    assert outcomes.get("error", 0) > 100 and outcomes.get("ok", 0) > 10, outcomes


@pytest.mark.parametrize("snippet", SNIPPETS, ids=range(len(SNIPPETS)))
def test_every_snippet_alone_and_inside_an_example(tmp_path: Path, snippet: str) -> None:
    workdir = make_workdir(tmp_path / "fuzz")
    base = SEED_SPECS[0].read_bytes()
    for data in (snippet.encode("utf-8"), snippet.encode("utf-8") + base, base + b"\n" + snippet.encode("utf-8")):
        started = time.perf_counter()
        run_case(workdir, data, [], None)
        assert time.perf_counter() - started < CASE_SECONDS


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300) | st.text(max_size=300).map(lambda s: s.encode("utf-8", "surrogatepass")))
def test_arbitrary_bytes(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "any.yaml"
    path.write_bytes(data)
    try:
        load_topology(path)
    except CloudportsError as exc:
        assert all(located(d) and d.hint for d in exc.diagnostics if d.severity == "error"), exc


@given(st.lists(st.text(max_size=20), max_size=4))
def test_var_options_parse_or_name_the_option(items: list[str]) -> None:
    try:
        parsed = parse_var_options(items)
    except CloudportsError as exc:
        assert all(d.message.startswith("--var ") and d.hint for d in exc.diagnostics), exc
        return
    assert len(parsed) <= len(items)


# Every tag YAML 1.1 defines (and one unknown, one Python), each on text it cannot or can construct.
YAML_TAGS = ["!!str", "!!int", "!!float", "!!bool", "!!null", "!!timestamp", "!!binary", "!!set", "!!omap"]
YAML_TAGS += ["!!pairs", "!!map", "!!seq", "!!merge", "!!value", "!!yaml", "!unknown", "!!python/name:os.system"]
TAGGED_TEXT = ["y", "", "1", "2001-12-14", "{a: 1}", "[a]"]


@pytest.mark.parametrize("key", sorted(spec_file_model().model_fields), ids=str)
def test_every_tag_on_every_top_level_key_is_a_positioned_error_or_accepted(tmp_path: Path, key: str) -> None:
    """Issue 21: `name: !!timestamp y` escaped as an AttributeError. Each top-level key, alone and in front of
    an example whose own line for that key is dropped (there on text that is no value of any tag: the
    cheaper check covers the rest), takes every tag on every kind of text."""
    workdir = make_workdir(tmp_path / "fuzz")
    base = [line for line in SEED_SPECS[0].read_text().splitlines(keepends=True) if not line.startswith(f"{key}:")]
    for tag in YAML_TAGS:
        for text in TAGGED_TEXT:
            line = f"{key}: {tag} {text}\n"
            for data in (line, line + "".join(base)) if text == "y" else (line,):
                run_case(workdir, data.encode("utf-8"), [], None)


NESTED_KEYS = [
    "roles:\n  web:\n    description: {tagged}\n",
    "networks:\n  corp:\n    ipv4: [{tagged}]\n",
    "flows:\n  - from: {tagged}\n    to: web\n    services: [tcp/1]\n",
    "flows:\n  - {{from: web, to: web, services: [{tagged}]}}\n",
    "targets:\n  aws:\n    region: {tagged}\n",
    "parameters:\n  p: {tagged}\n",
]


@pytest.mark.parametrize("template", NESTED_KEYS, ids=range(len(NESTED_KEYS)))
def test_every_tag_on_nested_keys_is_a_positioned_error_or_accepted(tmp_path: Path, template: str) -> None:
    workdir = make_workdir(tmp_path / "fuzz")
    for tag in YAML_TAGS:
        for text in TAGGED_TEXT:
            data = "name: lab\nroles: {web: {}}\n" if not template.startswith("roles") else "name: lab\n"
            run_case(workdir, (data + template.format(tagged=f"{tag} {text}")).encode("utf-8"), [], None)
