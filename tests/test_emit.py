"""Terraform emission: deterministic bytes, order independence, fmt-clean, checked-in examples in sync, and the
emitted data means what the compiled model means (parsed back with python-hcl2)."""

from __future__ import annotations

import filecmp
import random
import re
import shutil
from pathlib import Path

import hcl2
import pytest
import yaml

from cloudports.cli import main
from cloudports.emit.terraform_cli import TerraformCLI, find_terraform
from cloudports.pipeline import compile_spec, desired_state
from cloudports.targets.aws.emit import rules_locals as aws_locals
from cloudports.targets.azure.build import DENY_VNET_INBOUND
from cloudports.targets.azure.emit import PRIORITIES_FILE, read_previous_priorities
from cloudports.targets.azure.emit import rules_locals as azure_locals
from cloudports.targets.azure.priorities import ONLY_NSG

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p.parent for p in (REPO / "examples").glob("*/topology.yaml"))
TARGETS = ("aws", "azure")


def _emit(spec: Path, target: str, out: Path, *extra: str) -> None:
    assert main(["emit", str(spec), "--target", target, "--out", str(out), *extra]) == 0


def _tree(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def _shuffled_copy(spec: Path, dest: Path, seed: int) -> Path:
    """The same spec with flows, roles and networks in another order (includes none in the examples)."""
    data = yaml.safe_load(spec.read_text())
    rng = random.Random(seed)
    rng.shuffle(data["flows"])
    for section in ("roles", "networks"):
        items = list(data.get(section, {}).items())
        rng.shuffle(items)
        data[section] = dict(items)
    dest.write_text(yaml.safe_dump(data, sort_keys=False))
    return dest


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
@pytest.mark.parametrize("target", TARGETS)
def test_checked_in_terraform_is_in_sync(example: Path, target: str, tmp_path: Path) -> None:
    checked_in = example / "terraform" / target
    assert checked_in.is_dir(), f"run: cloudports emit {example}/topology.yaml -t {target} --out {checked_in}"
    out = tmp_path / "out"
    if (checked_in / PRIORITIES_FILE).exists():  # re-emitting into the same directory keeps its priorities
        out.mkdir()
        shutil.copy(checked_in / PRIORITIES_FILE, out / PRIORITIES_FILE)
    _emit(example / "topology.yaml", target, out)
    fresh, kept = _tree(out), _tree(checked_in)
    assert fresh.keys() == kept.keys()
    stale = [name for name in fresh if fresh[name] != kept[name]]
    assert not stale, (
        f"{stale} differ; regenerate with: cloudports emit {example}/topology.yaml -t {target} --out {checked_in}"
    )


@pytest.mark.parametrize("target", TARGETS)
def test_same_spec_same_bytes_whatever_the_order(target: str, tmp_path: Path) -> None:
    spec = REPO / "examples" / "dynamics365-distributed" / "topology.yaml"
    _emit(spec, target, tmp_path / "a")
    for seed in (1, 2):
        shuffled = _shuffled_copy(spec, tmp_path / f"shuffled{seed}.yaml", seed)
        _emit(shuffled, target, tmp_path / f"b{seed}")
        cmp = filecmp.dircmp(tmp_path / "a", tmp_path / f"b{seed}")
        assert _tree(tmp_path / "a") == _tree(tmp_path / f"b{seed}"), cmp.diff_files


@pytest.mark.skipif(not find_terraform(), reason="terraform CLI not installed")
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_emitted_roots_are_fmt_clean(example: Path, tmp_path: Path) -> None:
    for target in TARGETS:
        _emit(example / "topology.yaml", target, tmp_path / target)
        code, stdout, stderr = TerraformCLI(tmp_path / target).fmt()
        assert code == 0, stdout + stderr


def _parse(path: Path) -> dict:
    with path.open() as handle:
        return hcl2.load(handle)


def _unquote(value):
    """python-hcl2 keeps quotes of quoted keys/strings and adds __is_block__ markers; compare without them."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    if isinstance(value, dict):
        return {_unquote(k): _unquote(v) for k, v in value.items() if not str(k).startswith("__")}
    if isinstance(value, list):
        return [_unquote(v) for v in value]
    return value


_VARIABLE = re.compile(r"^\$\{(tostring\()?var\.(\w+)\)?\}$")


def _at_defaults(value, defaults: dict[str, int]):
    """Parsed HCL with every reference to a spec-parameter variable replaced by the variable's default, and AWS
    rule keys naming a variable (".../var.NAME/...") by its number: what Terraform plans without -var."""
    if isinstance(value, str):
        m = _VARIABLE.match(value)
        if m:
            return str(defaults[m.group(2)]) if m.group(1) else defaults[m.group(2)]
        return re.sub(r"/var\.(\w+)/", lambda k: f"/{defaults[k.group(1)]}/", value)
    if isinstance(value, dict):
        return {_at_defaults(k, defaults): _at_defaults(v, defaults) for k, v in value.items()}
    if isinstance(value, list):
        return [_at_defaults(v, defaults) for v in value]
    return value


def _variable_defaults(main_tf: Path) -> dict[str, int]:
    blocks = [_unquote(b) for b in _parse(main_tf).get("variable", [])]
    return {name: body["default"] for b in blocks for name, body in b.items() if isinstance(body.get("default"), int)}


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_emitted_data_parses_back_to_the_compiled_model(example: Path, tmp_path: Path) -> None:
    """At the variables' defaults, the emitted data is exactly the compiled model (variables change nothing)."""
    policy = compile_spec(example / "topology.yaml")
    for target, to_locals in (("aws", aws_locals), ("azure", azure_locals)):
        _emit(example / "topology.yaml", target, tmp_path / target)
        defaults = _variable_defaults(tmp_path / target / "main.tf")
        assert {n: policy.topology.parameters[n] for n in defaults if n in policy.topology.parameters} == {
            n: v for n, v in defaults.items() if n in policy.topology.parameters
        }
        parsed = _at_defaults(_unquote(_parse(tmp_path / target / "rules.tf")["locals"][0]), defaults)
        expected = to_locals(desired_state(policy, target))
        assert parsed.keys() == expected.keys()
        for name in expected:
            assert parsed[name] == expected[name], f"{target}: local.{name} differs from the compiled model"


AZURE_PROTOCOLS = {"Tcp", "Udp", "Icmp", "Esp", "Ah", "*"}


def _port_ok(text: str) -> bool:
    if text == "*":
        return True
    lo, _, hi = text.partition("-")
    return lo.isdigit() and 0 <= int(lo) <= 65535 and (not hi or (hi.isdigit() and int(lo) <= int(hi) <= 65535))


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_azure_rules_follow_azurerm_argument_rules(example: Path, tmp_path: Path) -> None:
    """The rules in the emitted HCL respect azurerm's and Azure's argument rules (../shared/reference/azure.md)."""
    _emit(example / "topology.yaml", "azure", tmp_path)
    defaults = _variable_defaults(tmp_path / "main.tf")
    data = _at_defaults(_unquote(_parse(tmp_path / "rules.tf")["locals"][0]), defaults)
    rules = data["security_rules"]
    assert 0 < len(rules) <= 1000
    seen: set[tuple[str, int]] = set()
    for name, rule in rules.items():
        assert 1 <= len(name) <= 80 and name[0].isalnum() and (name[-1].isalnum() or name[-1] == "_"), name
        assert 100 <= rule["priority"] <= 4096
        assert (rule["direction"], rule["priority"]) not in seen, f"priority clash at {name}"
        seen.add((rule["direction"], rule["priority"]))
        assert rule["direction"] in ("Inbound", "Outbound") and rule["access"] in ("Allow", "Deny")
        assert rule["protocol"] in AZURE_PROTOCOLS
        assert len(rule["description"]) <= 140
        assert rule["destination_port_ranges"] and all(_port_ok(p) for p in rule["destination_port_ranges"])
        for side in ("source", "destination"):
            asgs = rule.get(f"{side}_application_security_groups")
            prefixes = rule.get(f"{side}_address_prefixes")
            assert (asgs is None) != (prefixes is None), f"{name}: exactly one of ASGs/prefixes on the {side} side"
            if asgs is not None:
                assert 1 <= len(asgs) <= 10 and set(asgs) <= set(data["application_security_groups"])
            else:
                families = {":" in p for p in prefixes if "/" in p}
                assert len(families) <= 1, f"{name}: mixed IPv4/IPv6 prefixes"
                tags = [p for p in prefixes if "/" not in p]
                assert not tags or len(prefixes) == 1, f"{name}: service tags only alone"
    assert len(data["application_security_groups"]) <= 100
    assert rules[DENY_VNET_INBOUND.name]["priority"] == 4096


def test_adding_a_flow_changes_one_azure_rule_only(tmp_path: Path) -> None:
    spec = REPO / "examples" / "dynamics365-distributed" / "topology.yaml"
    out = tmp_path / "azure"
    _emit(spec, "azure", out)
    before = read_previous_priorities(out)[ONLY_NSG]
    data = yaml.safe_load(spec.read_text())
    data["flows"].append({"from": "corp", "to": "sql", "services": ["tcp/8443"], "description": "new report portal"})
    grown = tmp_path / "grown.yaml"
    grown.write_text(yaml.safe_dump(data, sort_keys=False))
    _emit(grown, "azure", out)
    after = read_previous_priorities(out)[ONLY_NSG]
    assert set(after) - set(before) == {("Inbound", "in-tcp-8443")}
    assert all(after[k] == v for k, v in before.items()), "an existing rule was renumbered"


def test_removing_a_flow_never_renumbers_another_azure_rule(tmp_path: Path) -> None:
    """Regression: in-tcp-88 (976, its home 975 taken by in-tcp-150) moved to 975 once app->lb was removed,
    although cloudports-priorities.json said 976 (first seen with the names rules had then)."""
    data = {
        "name": "collide",
        "egress": "open",
        "roles": {r: {} for r in ("web", "sql", "app", "lb")},
        "flows": [
            {"from": "web", "to": "sql", "services": ["tcp/88"]},
            {"from": "app", "to": "lb", "services": ["tcp/150"]},
        ],
    }
    spec, out = tmp_path / "t.yaml", tmp_path / "azure"
    spec.write_text(yaml.safe_dump(data, sort_keys=False))
    _emit(spec, "azure", out)
    before = read_previous_priorities(out)[ONLY_NSG]
    assert before[("Inbound", "in-tcp-88")] == before[("Inbound", "in-tcp-150")] + 1
    data["flows"] = data["flows"][:1]
    spec.write_text(yaml.safe_dump(data, sort_keys=False))
    _emit(spec, "azure", out)
    after = read_previous_priorities(out)[ONLY_NSG]
    assert after == {k: v for k, v in before.items() if k[1] != "in-tcp-150"}
    with open(out / "rules.tf") as f:
        rules = {k.strip('"'): v for k, v in hcl2.load(f)["locals"][0]["security_rules"].items()}
    assert set(rules) == {"in-tcp-88", DENY_VNET_INBOUND.name}
    assert rules["in-tcp-88"]["priority"] == before[("Inbound", "in-tcp-88")]


def test_emit_check_runs_fmt_and_validate(tmp_path: Path, capsys) -> None:
    if not find_terraform():
        pytest.skip("terraform CLI not installed")
    spec = REPO / "examples" / "three-tier-web" / "topology.yaml"
    assert main(["emit", str(spec), "-t", "aws", "--out", str(tmp_path), "--check"]) == 0
    text = capsys.readouterr().out
    assert "terraform fmt -check: ok" in text
    assert "terraform validate: ok" in text or "validate skipped" in text
    assert not (tmp_path / ".terraform").exists(), "--check must not leave terraform's working files behind"


def test_a_check_of_another_target_leaves_this_targets_terraform_config_alone(tmp_path: Path, monkeypatch) -> None:
    """Regression: `emit --check` of an Azure root (no provider mirror) rewrote the one per-user CLI config while an
    AWS check's `terraform init` was reading it, which then looked for the registry and failed."""
    from cloudports.emit.terraform_cli import default_cli_config

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    mirror = tmp_path / "mirror" / "registry.terraform.io" / "hashicorp" / "aws" / "5.100.0" / "linux_amd64"
    mirror.mkdir(parents=True)
    (mirror / "terraform-provider-aws_v5.100.0_x5").write_text("")
    monkeypatch.setenv("CLOUDPORTS_TF_PLUGIN_MIRROR", str(tmp_path / "mirror"))
    aws = default_cli_config("aws")
    other = default_cli_config(None)
    assert aws.path != other.path
    assert "filesystem_mirror" in aws.path.read_text() and "filesystem_mirror" not in other.path.read_text()


def test_emit_builds_the_state_once_and_the_baseline_names_what_it_wrote(tmp_path: Path, monkeypatch) -> None:
    """emit built the Azure state twice (the second time afresh, for the checkov baseline), so the baseline could
    name rules the Terraform, built from the earlier emit's record, does not have."""
    import cloudports.targets.azure.build as azure_build

    built: list[object] = []
    real = azure_build.build_azure
    monkeypatch.setattr(azure_build, "build_azure", lambda *a, **k: built.append(a) or real(*a, **k))
    spec = REPO / "examples" / "three-tier-web" / "topology.yaml"
    assert main(["emit", str(spec), "-t", "azure", "--out", str(tmp_path)]) == 0
    assert len(built) == 1


def test_one_emit_of_both_clouds_writes_what_two_emits_write(tmp_path: Path, capsys) -> None:
    """`-t aws -t azure --out DIR`: each cloud's root in DIR/<target>, byte for byte what `-t <target> --out` writes
    (the spec compiled and TOPOLOGY.md drawn once for both)."""
    spec = REPO / "examples" / "dynamics365-distributed" / "topology.yaml"
    assert main(["emit", str(spec), "-t", "aws", "-t", "azure", "-t", "aws", "--out", str(tmp_path / "both")]) == 0
    assert capsys.readouterr().out.count("wrote ") == 2
    for target in ("aws", "azure"):
        assert main(["emit", str(spec), "-t", target, "--out", str(tmp_path / target)]) == 0
        one, both = tmp_path / target, tmp_path / "both" / target
        files = sorted(p.relative_to(one) for p in one.rglob("*") if p.is_file())
        assert files == sorted(p.relative_to(both) for p in both.rglob("*") if p.is_file())
        assert "TOPOLOGY.md" in map(str, files)
        assert all((one / f).read_bytes() == (both / f).read_bytes() for f in files), target
    assert sorted(p.name for p in (tmp_path / "both").iterdir()) == ["aws", "azure"]


def test_emit_refuses_an_unknown_target_among_several(tmp_path: Path, capsys) -> None:
    spec = REPO / "examples" / "three-tier-web" / "topology.yaml"
    assert main(["emit", str(spec), "-t", "aws", "-t", "gcp", "--out", str(tmp_path / "out")]) == 1
    assert "unknown target 'gcp'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
