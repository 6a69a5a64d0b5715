"""constraints.txt (the lock the README's install and CI use) against pyproject.toml's ranges, and CI against the
README: an edit to one that forgets the other fails here, before a fresh machine finds it."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parent.parent
LOCKED_EXTRAS = ("test", "emulators")  # the extras constraints.txt is compiled for (its header names them)


def requirements() -> list[Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    listed = project["dependencies"] + [r for extra in LOCKED_EXTRAS for r in project["optional-dependencies"][extra]]
    return [Requirement(line) for line in listed]


def pins(text: str) -> dict[str, Version]:
    found: dict[str, Version] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            match = re.fullmatch(r"([A-Za-z0-9._-]+)==(\S+)", line)
            assert match, f"constraints.txt: {line!r} is not name==version"
            found[canonicalize_name(match.group(1))] = Version(match.group(2))
    return found


def lock_problems(wanted: list[Requirement], locked: dict[str, Version]) -> list[str]:
    problems = []
    for requirement in wanted:
        version = locked.get(canonicalize_name(requirement.name))
        if version is None:
            problems.append(f"{requirement} is not pinned")
        elif not requirement.specifier.contains(version, prereleases=True):
            problems.append(f"{requirement} but {version} is pinned")
    return problems


def test_every_requirement_is_pinned_inside_its_range() -> None:
    locked = pins((REPO / "constraints.txt").read_text())
    assert lock_problems(requirements(), locked) == [], "re-lock: README.md, section Versions"


def test_a_forgotten_lock_is_noticed() -> None:
    locked = {"pydantic": Version("2.5.0")}
    problems = lock_problems([Requirement("pydantic>=2.6"), Requirement("rich>=13")], locked)
    assert problems == ["pydantic>=2.6 but 2.5.0 is pinned", "rich>=13 is not pinned"]


def _block_after(markdown: str, heading: str) -> list[str]:
    """The command lines of the first ```bash block after `heading`."""
    after = markdown.split(heading, 1)[1]
    block = after.split("```bash\n", 1)[1].split("```", 1)[0]
    return [line.split("  #", 1)[0].strip() for line in block.splitlines() if line.strip()]


def test_ci_installs_and_tests_as_the_readme_says() -> None:
    readme, ci = (REPO / "README.md").read_text(), (REPO / ".ci" / "run").read_text()
    install = _block_after(readme, "Install (")
    tests = _block_after(readme, "Run the tests")
    assert install[-1] == "python -m pip install -c constraints.txt -e '.[test]'"
    assert "python -m pytest --full" in tests
    ci_lines = [line.split("  #", 1)[0].strip() for line in ci.splitlines()]
    assert install[-1] in ci_lines and "python -m pytest --full" in ci_lines
    assert "python -m venv" in install[0] and "python -m venv" in ci  # both in a virtualenv of their own
