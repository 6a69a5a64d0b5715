"""What modules/azure-nsg relies on in Terraform's ordering, checked with the real CLI and the built-in
terraform_data resource (no provider): each create and destroy logs to a file, a create only after a pause, so a
destroy that does not wait for a create is logged before it.

The module's rules are two for_each resources: "first" (rules taking over what another rule gives up) and "this"
(the rest, depends_on first). A rule that leaves the map is an orphaned instance of "this": Terraform destroys it
before anything else unless the rules are create_before_destroy and a resource that changes with them
(terraform_data.rules_applied) depends on all of them; then it is destroyed last.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.terraform_env import TerraformRunner, terraform_env

pytestmark = pytest.mark.slow


def _rules(name: str, only: str, lifecycle: str, extra: str = "") -> str:
    log = 'echo \\"${each.key} %s\\" >> ${path.root}/order.log'
    return f"""
resource "terraform_data" "{name}" {{
  for_each = {{ for key, r in var.rules : key => r if {only} }}
  input    = each.value.body
  provisioner "local-exec" {{
    command = "sleep 1; {log % "created"}"
  }}
  provisioner "local-exec" {{
    when    = destroy
    command = "{log % "destroyed"}"
  }}
  {lifecycle}
  {extra}
}}
"""


def _module(make_before_break: bool) -> str:
    lifecycle = "lifecycle {\n    create_before_destroy = true\n  }" if make_before_break else ""
    text = 'variable "rules" {\n  type = map(object({ body = string, first = bool }))\n}\n'
    text += _rules("first", "r.first", lifecycle) + _rules(
        "this", "!r.first", lifecycle, "depends_on = [terraform_data.first]"
    )
    if make_before_break:
        text += """
resource "terraform_data" "rules_applied" {
  input = sort(concat([for r in terraform_data.first : r.id], [for r in terraform_data.this : r.id]))
}
"""
    return text


def _apply(tf: TerraformRunner, rules: dict[str, dict]) -> list[str]:
    root = Path(tf.working_dir)
    (root / "main.tf").write_text(f'module "nsg" {{\n  source = "./nsg"\n  rules  = {json.dumps(rules)}\n}}\n')
    (root / "order.log").write_text("")
    if not (root / ".terraform").exists():
        assert tf.init()[0] == 0
    code, out, err = tf.apply()
    assert code == 0, out + err
    return (root / "order.log").read_text().splitlines()


@pytest.mark.parametrize("make_before_break", [True, False], ids=["module", "without"])
def test_a_rule_leaving_the_map_is_destroyed_after_the_rule_taking_over(
    terraform_available: str, tmp_path: Path, make_before_break: bool
) -> None:
    (tmp_path / "nsg").mkdir()
    (tmp_path / "nsg" / "main.tf").write_text(_module(make_before_break))
    tf = TerraformRunner(tmp_path, env=terraform_env(None), timeout=120)
    _apply(tf, {"old": {"body": "a, b -> c, d", "first": False}, "kept": {"body": "e -> f", "first": False}})
    # "old" leaves the map; "new" takes its pairs over
    order = _apply(tf, {"new": {"body": "a, b -> c, d", "first": True}, "kept": {"body": "e -> f", "first": False}})
    if make_before_break:
        assert order == ["new created", "old destroyed"]
    else:
        assert order == ["old destroyed", "new created"]  # why the module needs both: the flows' gap
