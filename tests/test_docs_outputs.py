"""What the docs' walk-throughs write goes into a temporary folder, not into the clone a newcomer pastes them in
(tests/test_docs.py runs them in a copy, where files left behind would go unnoticed)."""

from __future__ import annotations

import re

from tests.test_docs import DOCS, REPO, blocks, console_commands

# `--out PATH`, `-o PATH`, `> PATH` (not 2>, &>, >&2)
WRITES = re.compile(r"(?:--out|\s-o)\s+([^\s;|&]+)|(?<![0-9&>])>>?\s*([^\s;|&]+)")
# the one place a doc writes into the clone on purpose: regenerating an example's checked-in Terraform
INTO_THE_CLONE = {"examples/dynamics365-distributed/terraform"}


def _commands(doc_text: str) -> list[tuple[int, str]]:
    found = []
    for block in blocks(doc_text):
        if block.not_run is not None:
            continue
        if block.lang == "console":
            found += [(c.line, c.command) for c in console_commands(block)]
        else:
            found += [(block.line + i, line) for i, line in enumerate(block.text.splitlines(), start=1)]
    return found


def written_paths(doc_text: str) -> list[tuple[int, str]]:
    paths = []
    for line, command in _commands(doc_text):
        code = command.split(" #", 1)[0]
        for match in WRITES.finditer(code):
            path = (match.group(1) or match.group(2)).strip("'\"")
            if not path.startswith(("&", "$", "/dev/null")) and path not in INTO_THE_CLONE:
                paths.append((line, path))
    return paths


def test_walkthroughs_write_only_into_a_temporary_folder() -> None:
    left = {str(doc.relative_to(REPO)): written_paths(doc.read_text()) for doc in DOCS}
    assert {doc: paths for doc, paths in left.items() if paths} == {}


def test_the_scan_finds_writes_into_the_working_folder() -> None:
    text = (
        "```bash\ncloudports emit s.yaml --out d365-aws\ncloudports graph s.yaml -o g.html\ncat > split.yaml <<'EOF'\n"
        'cloudports validate s --format sarif > x.sarif; echo "exit $?"   # exit 0\n'
        "curl -o /dev/null http://x 2>&1 >&2\ncloudports emit s --out $OUT/tf\n```\n"
    )
    assert [p for _, p in written_paths(text)] == ["d365-aws", "g.html", "split.yaml", "x.sarif"]
