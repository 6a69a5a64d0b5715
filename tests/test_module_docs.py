"""The modules' README inputs/outputs sections (tools/terraform_docs.py, terraform-docs' markdown table format)
are what the .tf files say: a changed variable, output or provider constraint without a regenerated README
fails here."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parent.parent


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("terraform_docs", REPO / "tools" / "terraform_docs.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TOOL = _tool()


@pytest.mark.parametrize("name", TOOL.MODULES)
def test_module_readme_is_up_to_date(name: str) -> None:
    module = REPO / "modules" / name
    readme = (module / "README.md").read_text()
    assert readme.count(TOOL.BEGIN) == readme.count(TOOL.END) == 1
    assert TOOL.updated(readme, TOOL.render(module)) == readme, "run: python tools/terraform_docs.py"


def test_generated_section_follows_the_tf_files(tmp_path: Path) -> None:
    module = tmp_path / "azure-nsg"
    shutil.copytree(REPO / "modules" / "azure-nsg", module)
    variables = module / "variables.tf"
    variables.write_text(
        variables.read_text().replace('"Name of the network security group."', '"The NSG | its name."')
        + '\nvariable "extra_port" {\n  description = "A new input."\n  type        = number\n  default     = 8080\n}\n'
    )
    section = TOOL.render(module)
    assert '| <a name="input_nsg_name"></a> [nsg\\_name](#input\\_nsg\\_name) | The NSG \\| its name. |' in section
    row = next(line for line in section.splitlines() if "input_extra_port" in line)
    assert row.endswith("| A new input. | `number` | `8080` | no |")
    names = [line.split("](#input")[0].split("[")[-1] for line in section.splitlines() if 'name="input_' in line]
    assert names == sorted(names)  # inputs sorted by name, as terraform-docs sorts them
    readme = "# title\n\nkept\n\n" + TOOL.BEGIN + "\nold\n" + TOOL.END + "\n\nafter\n"
    assert TOOL.updated(readme, section) == "# title\n\nkept\n\n" + section + "\n\nafter\n"


def test_check_mode_reports_a_stale_readme(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    for name in TOOL.MODULES:
        shutil.copytree(REPO / "modules" / name, tmp_path / "modules" / name)
    monkeypatch.setattr(TOOL, "REPO", tmp_path)
    assert TOOL.main(["--check"]) == 0
    outputs = tmp_path / "modules" / "aws-security-groups" / "outputs.tf"
    outputs.write_text(outputs.read_text() + '\noutput "more" {\n  value = 1\n}\n')
    assert TOOL.main(["--check"]) == 1
    assert "modules/aws-security-groups/README.md" in capsys.readouterr().err
    assert TOOL.main([]) == 0 and TOOL.main(["--check"]) == 0  # rewritten
