"""User-facing diagnostics: every problem in a spec points at file:line:column and says what would be right.

Nothing in here raises for programming errors; these classes exist so the CLI can print a clear message and
exit 1 instead of showing a traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field

from cloudports.slots import setters


@dataclass(frozen=True, order=True, slots=True, init=False)  # slots: a large spec has about ten per flow (yamlpos)
class Loc:
    """A position in a spec file (1-based line and column)."""

    file: str
    line: int
    col: int

    def __init__(self, file: str, line: int, col: int) -> None:
        # The slots' own setters (cloudports.slots): the frozen dataclass's generated __init__ is twice as slow.
        _set_file(self, file)
        _set_line(self, line)
        _set_col(self, col)

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


_set_file, _set_line, _set_col = setters(Loc, "file", "line", "col")


@dataclass(frozen=True)
class Diagnostic:
    loc: Loc | None
    message: str
    hint: str = ""
    severity: str = "error"  # "error" | "warning"
    rule: str = ""  # which check found it, for reports that group findings (SARIF's ruleId); "" = a spec error

    def render(self) -> str:
        where = f"{self.loc}: " if self.loc else ""
        text = f"{where}{self.severity}: {self.message}"
        if self.hint:
            text += f"\n    {self.hint}"
        return text


class CloudportsError(Exception):
    """An error the user can fix; the CLI prints it and exits with exit_code (1)."""

    exit_code = 1

    def __init__(self, diagnostics: Iterable[Diagnostic] | str):
        if isinstance(diagnostics, str):
            diagnostics = [Diagnostic(None, diagnostics)]
        self.diagnostics: list[Diagnostic] = list(diagnostics)
        super().__init__("\n".join(d.render() for d in self.diagnostics))


class Interrupted(CloudportsError):
    """Ctrl-C: the CLI says what state things are in and exits 130, as shells do for SIGINT."""

    exit_code = 130


class SpecError(CloudportsError):
    """The topology spec (or a catalog, or a --var) is wrong."""


@dataclass
class Problems:
    """Collects diagnostics so that one run reports every problem, not just the first."""

    items: list[Diagnostic] = field(default_factory=list)

    def error(self, loc: Loc | None, message: str, hint: str = "", rule: str = "") -> None:
        self.items.append(Diagnostic(loc, message, hint, "error", rule))

    def warning(self, loc: Loc | None, message: str, hint: str = "", rule: str = "") -> None:
        self.items.append(Diagnostic(loc, message, hint, "warning", rule))

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity == "warning"]

    def raise_if_errors(self) -> None:
        if self.errors:
            raise SpecError(sorted(self.errors, key=lambda d: (d.loc is None, d.loc or Loc("", 0, 0))))


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """A 'did you mean ...?' hint, or a list of what exists when nothing is close."""
    options = sorted(set(candidates))
    close = difflib.get_close_matches(name, options, n=3, cutoff=0.6)
    if close:
        return "did you mean " + " or ".join(f"'{c}'" for c in close) + "?"
    if not options:
        return "none are defined"
    shown = ", ".join(options[:12]) + (", ..." if len(options) > 12 else "")
    return f"known names: {shown}"
