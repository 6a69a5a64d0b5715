"""The shape of the code: no import cycles, clouds only in their own folders, a new target is one folder plus a
registry entry (proved with a throw-away target that only renders rows)."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest

from cloudports.cli import main
from cloudports.compile import CompiledPolicy
from cloudports.targets import registry
from cloudports.targets.base import Capabilities, Row, Target, TargetSettings

PACKAGE = Path(__file__).resolve().parent.parent / "cloudports"
EXAMPLE = PACKAGE.parent / "examples" / "dynamics365-distributed" / "topology.yaml"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """Every cloudports module this file imports, at any depth (functions included, TYPE_CHECKING blocks too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                found.add(child if child in modules else node.module)
    return {name for name in found if name in modules}


def import_graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: _imports(path, set(files)) - {name} for name, path in files.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 on the stack, 2 done

    def visit(node: str, stack: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt, [*stack, nxt])):
                return cycle
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start, [start])):
            return cycle
    return None


def test_no_import_cycles() -> None:
    assert find_cycle(import_graph()) is None


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


CLOUD_WORDS = re.compile(r"(?<![a-z0-9])(aws|azure|azurerm|arm|boto3|botocore|ec2|nsg|asg)(?![a-z0-9])", re.IGNORECASE)


def _code_without_prose(path: Path) -> list[tuple[int, str]]:
    """Identifiers and import lines of a module; docstrings, comments and message strings are prose."""
    tree = ast.parse(path.read_text())
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            names.append((node.lineno, node.id))
        elif isinstance(node, ast.Attribute):
            names.append((node.lineno, node.attr))
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            names += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.append((node.lineno, node.name))
    return names


def test_cloud_words_are_found_inside_identifiers() -> None:
    assert CLOUD_WORDS.search("aws_description") and CLOUD_WORDS.search("build_azure") and CLOUD_WORDS.search("nsg")
    assert not CLOUD_WORDS.search("laws") and not CLOUD_WORDS.search("harm") and not CLOUD_WORDS.search("params")


def test_no_cloud_is_named_outside_its_target_folder() -> None:
    """Outside targets/<cloud>/ and the emulators, code names no cloud (the registry's built-in list aside)."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] == "emulators" or (rel.parts[0] == "targets" and len(rel.parts) > 2):
            continue
        offenders += [f"{rel}:{line}: {name}" for line, name in _code_without_prose(path) if CLOUD_WORDS.search(name)]
    assert offenders == []


def test_product_functions_fit_on_a_screen() -> None:
    long = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            is_function = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            if is_function and node.end_lineno and node.end_lineno - node.lineno + 1 > 60:
                long.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name}")
    assert long == []


# ------------------------------------------------------------------------------ a throw-away target


class CountingSettings(TargetSettings):
    label: str = "rules"


class CountingTarget(Target[CountingSettings, list[str]]):
    """The smallest possible target: it renders rows and declares it can do nothing else."""

    name = "counting"
    title = "rule counter"
    settings_model = CountingSettings
    capabilities = Capabilities(icmp_types=False, icmp_families=True, egress=False)

    def build(self, policy: CompiledPolicy) -> list[str]:
        label = self.settings(policy.topology).label
        return [f"{label}: {r.role} {r.direction} {r.port} {r.peer}" for r in policy.rules]

    def rows(self, state: list[str]) -> list[Row]:
        return [{"rule": line} for line in state]


@pytest.fixture
def counting() -> Any:
    registry.register(CountingTarget())
    yield
    registry.unregister("counting")


def test_a_new_target_is_one_class_and_one_registration(counting: None, tmp_path: Path, capsys: Any) -> None:
    spec = tmp_path / "t.yaml"
    spec.write_text(
        "name: t\nroles: {web: {}, db: {}}\nflows:\n  - {from: web, to: db, services: [tcp/5432, icmp/8]}\n"
        "targets: {counting: {label: seen}}\n"
    )
    assert main(["show", str(spec), "-t", "counting", "-f", "json"]) == 0
    shown = capsys.readouterr()
    assert '"seen: db ingress tcp/5432 web"' in shown.out and "cannot filter ICMP by type" in shown.err
    assert main(["emit", str(spec), "-t", "counting", "--out", str(tmp_path / "o")]) == 1
    assert "cannot emit Terraform" in capsys.readouterr().err
    assert main(["plan", str(spec), "-t", "counting"]) == 1
    assert "cannot work on live resources" in capsys.readouterr().err
    spec.write_text(spec.read_text().replace("name: t\n", "name: t\negress: strict\n"))
    assert main(["show", str(spec), "-t", "counting"]) == 1
    assert "cannot restrict outbound traffic" in capsys.readouterr().err
    spec.write_text(spec.read_text().replace("label: seen", "lable: seen"))
    assert main(["validate", str(spec)]) == 1
    assert "unknown key 'lable'" in capsys.readouterr().err


def test_an_unknown_target_is_refused_with_the_known_ones(capsys: Any) -> None:
    assert main(["show", str(EXAMPLE), "-t", "azrue"]) == 1
    assert "did you mean 'azure'" in capsys.readouterr().err


def test_options_of_another_target_are_refused(capsys: Any) -> None:
    assert main(["drift", str(EXAMPLE), "-t", "azure", "--vpc-id", "vpc-1"]) == 1
    assert "--vpc-id is an option of aws" in capsys.readouterr().err
    assert main(["apply", str(EXAMPLE), "-t", "azure", "--allow-gap"]) == 1  # a flag option, refused the same way
    assert "--allow-gap is an option of aws" in capsys.readouterr().err


def test_modules_stay_readable() -> None:
    sizes = {p.relative_to(PACKAGE): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    big = [f"{path}: {lines}" for path, lines in sizes.items() if lines > 420]
    assert big == []
