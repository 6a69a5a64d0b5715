"""The spec loader: every bad spec is a SpecError at file:line:column with a hint; includes, parameters, phases.

Positions are asserted exactly: `at(text, needle)` computes the line:column where `needle` starts in the YAML.
"""

from __future__ import annotations

import os
import textwrap
import time
from pathlib import Path

import pytest

from cloudports.cli import main
from cloudports.errors import SpecError
from cloudports.spec import load_topology
from cloudports.spec.model import PortSpec
from cloudports.spec.variables import parse_var_options

Q = '"'  # the opening quote of a quoted YAML scalar (where its position is reported)
HEADER = """\
name: t
roles:
  web: {}
  sql: {}
"""


def write(tmp_path: Path, text: str, name: str = "topology.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def at(path: Path, needle: str, nth: int = 0) -> str:
    """'file:line:col' of the nth occurrence of `needle` in the file."""
    text = path.read_text()
    idx = -1
    for _ in range(nth + 1):
        idx = text.index(needle, idx + 1)
    line = text.count("\n", 0, idx) + 1
    col = idx - (text.rfind("\n", 0, idx) + 1) + 1
    return f"{path}:{line}:{col}"


def error_of(path: Path, **kwargs) -> str:
    with pytest.raises(SpecError) as exc:
        load_topology(path, **kwargs)
    text = str(exc.value)
    assert exc.value.diagnostics and all(d.severity == "error" for d in exc.value.diagnostics)
    unhinted = [d.render() for d in exc.value.diagnostics if not d.hint]
    assert not unhinted, "every error says what would be right: " + "; ".join(unhinted)
    return text


def spec(tmp_path: Path, body: str, header: str = HEADER) -> Path:
    return write(tmp_path, header + textwrap.dedent(body))


# --------------------------------------------------------------------------------------------- names


def test_unknown_role_in_a_flow_with_did_you_mean(tmp_path: Path) -> None:
    path = spec(tmp_path, "flows:\n  - {from: wbe, to: sql, services: [tcp/1433]}\n")
    text = error_of(path)
    assert f"{at(path, 'wbe')}: error: unknown role or network 'wbe' in 'from'" in text
    assert "did you mean 'web'?" in text


def test_unknown_name_in_a_list_points_at_the_item(tmp_path: Path) -> None:
    path = spec(tmp_path, "flows:\n  - from: [web, sql]\n    to: [sql, sqk]\n    services: [tcp/1]\n")
    text = error_of(path)
    assert f"{at(path, 'sqk')}: error: unknown role or network 'sqk' in 'to'" in text
    assert "did you mean 'sql'?" in text


def test_unknown_service_and_catalog_with_did_you_mean(tmp_path: Path) -> None:
    path = spec(
        tmp_path,
        "catalogs: [windows-admn]\nflows:\n  - {from: web, to: sql, services: [tcp/1]}\n",
    )
    text = error_of(path)
    assert f"{at(path, 'windows-admn')}: error: unknown catalog 'windows-admn'" in text
    assert "did you mean 'windows-admin'?" in text

    path = spec(tmp_path, "catalogs: [sql-server]\nflows:\n  - {from: web, to: sql, services: [msql]}\n")
    text = error_of(path)
    assert f"{at(path, 'msql')}: error: unknown service 'msql'" in text
    assert "did you mean 'mssql'" in text


def test_unknown_keys_with_did_you_mean(tmp_path: Path) -> None:
    path = spec(
        tmp_path,
        """\
        networks:
          corp: {ipv4: [10.0.0.0/8], descripton: x}
        flows:
          - from: web
            to: sql
            services: [tcp/1]
            descriptoin: typo
        targest: {}
        """,
    )
    text = error_of(path)
    assert f"{at(path, 'descripton')}: error: unknown key 'descripton'\n    did you mean 'description'?" in text
    assert f"{at(path, 'descriptoin')}: error: unknown key 'descriptoin'\n    did you mean 'description'?" in text
    assert f"{at(path, 'targest')}: error: unknown key 'targest'\n    did you mean 'targets'?" in text


def test_bad_role_name_pattern(tmp_path: Path) -> None:
    path = write(tmp_path, "name: t\nroles:\n  Web_1: {}\nflows: []\n")
    text = error_of(path)
    assert "'Web_1' is not a valid name" in text and "lower-case letters" in text
    assert str(path) + ":" in text


def test_role_and_network_with_the_same_name(tmp_path: Path) -> None:
    path = spec(
        tmp_path, "networks:\n  web: {ipv4: [10.0.0.0/8]}\nflows:\n  - {from: web, to: sql, services: [tcp/1]}\n"
    )
    text = error_of(path)
    assert f"{at(path, 'web: {}')}: error: 'web' is both a role and a network" in text


def test_internet_cannot_be_redefined(tmp_path: Path) -> None:
    path = spec(
        tmp_path, "networks:\n  internet: {ipv4: [0.0.0.0/0]}\nflows:\n  - {from: web, to: sql, services: [tcp/1]}\n"
    )
    assert f"{at(path, 'internet:')}: error: 'internet' is built in" in error_of(path)


# --------------------------------------------------------------------------------------------- CIDRs


@pytest.mark.parametrize(
    ("family", "written", "canonical"),
    [
        ("ipv4", "10.20.0.1/16", "10.20.0.0/16"),
        ("ipv4", "192.168.1.77/24", "192.168.1.0/24"),
        ("ipv6", "fd00:20::1/48", "fd00:20::/48"),
    ],
)
def test_host_bits_set_gives_the_canonical_form(tmp_path: Path, family: str, written: str, canonical: str) -> None:
    path = spec(
        tmp_path,
        f'networks:\n  corp: {{{family}: ["{written}"]}}\nflows:\n  - {{from: corp, to: web, services: [tcp/1]}}\n',
    )
    text = error_of(path)
    assert f"{at(path, Q + written)}: error: '{written}' has host bits set" in text
    assert f"the canonical form is {canonical}" in text


def test_bad_cidrs(tmp_path: Path) -> None:
    path = spec(
        tmp_path,
        """\
        networks:
          a: {ipv4: [10.0.0.0/33]}
          b: {ipv4: ["fd00::/8"]}
          c: {}
        flows:
          - {from: [a, b, c], to: web, services: [tcp/1]}
        """,
    )
    text = error_of(path)
    assert f"{at(path, '10.0.0.0/33')}: error: '10.0.0.0/33' is not a CIDR" in text
    where = at(path, Q + "fd00::/8")
    assert f"{where}: error: 'fd00::/8' is an IPv6 block in the ipv4 list\n    move it to 'ipv6:'" in text
    assert f"{at(path, 'c: {}')}: error: network 'c' has no address blocks" in text


# --------------------------------------------------------------------------------------------- ports


@pytest.mark.parametrize(
    ("port", "message", "hint"),
    [
        ("tcp/70000", "port 70000 is outside 0-65535", "use a value between 0 and 65535"),
        ("udp/-1", "cannot read port 'udp/-1'", "write it like"),
        ("tcp/65536", "port 65536 is outside 0-65535", ""),
        ("tcp/1-65536", "port 65536 is outside 0-65535", ""),
        ("tcp/2000-1000", "port range 2000-1000 is reversed", "did you mean tcp/1000-2000?"),
        ("udp/9-3", "port range 9-3 is reversed", "did you mean udp/3-9?"),
        ("icmp/256", "ICMP type 256 is outside 0-255", ""),
        ("icmp/3:300", "ICMP code 300 is outside 0-255", ""),
        ("sctp/80", "unknown protocol 'sctp'", "protocols are tcp, udp, icmp, icmpv6, all"),
        ("tcp/http", "port must be a number, got 'http'", "write it like"),
        ("443/udp", "cannot read port '443/udp'", "did you mean udp/443?"),
        ("tcp:443", "unknown service 'tcp:443'", "did you mean the port tcp/443?"),  # no '/': a service's name
        ("icmpv6 128", "unknown service 'icmpv6 128'", "did you mean the port icmpv6/128?"),
    ],
)
def test_bad_inline_ports(tmp_path: Path, port: str, message: str, hint: str) -> None:
    path = spec(tmp_path, f'flows:\n  - from: web\n    to: sql\n    services: [tcp/1, "{port}"]\n')
    text = error_of(path)
    assert f"{at(path, Q + port)}: error: {message}" in text
    assert hint in text


def test_a_port_written_as_a_service_name_gets_the_port_form(tmp_path: Path) -> None:
    path = spec(tmp_path, "flows:\n  - from: web\n    to: sql\n    services: [tcp443]\n")
    text = error_of(path)
    assert f"{at(path, 'tcp443')}: error: unknown service 'tcp443'\n    did you mean the port tcp/443?" in text


def test_bad_long_form_port(tmp_path: Path) -> None:
    path = spec(
        tmp_path,
        "flows:\n  - from: web\n    to: sql\n    services:\n      - {protocol: tcp, from: 2000, to: 1000}\n",
    )
    text = error_of(path)
    assert f"{at(path, '{protocol')}: error: port range 2000-1000 is reversed" in text


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("{protocol: tcp, port: 1, from: 2, to: 3}", "give either 'port' or 'from'/'to', not both"),
        ("{protocol: udp, from: 2}", "udp needs 'port' or both 'from' and 'to'"),
        ("{protocol: tcp, port: true}", "input should be a valid integer"),  # not port 1
        ("{protocol: tcp, port: 70000}", "port 70000 is outside 0-65535"),
        ("{protocol: icmp, type: 300}", "flows.0.services.0"),
        ("{protocol: sctp, port: 1}", "flows.0.services.0"),
        ("icmp/:4", "cannot read port"),
    ],
)
def test_bad_long_form_items(tmp_path: Path, item: str, message: str) -> None:
    path = spec(tmp_path, f"flows:\n  - from: web\n    to: sql\n    services:\n      - {item}\n")
    text = error_of(path)
    assert f"{at(path, item)}: error: " in text and message in text


def test_wrong_types_and_values(tmp_path: Path) -> None:
    path = write(tmp_path, "name: t\negress: strcit\nroles: [web]\nflows: []\n")
    text = error_of(path)
    assert f"{at(path, 'strcit')}: error: egress:" in text and "'open' or 'strict'" in text
    assert f"{at(path, '[web]')}: error: roles:" in text


def test_valid_port_forms(tmp_path: Path) -> None:
    path = spec(
        tmp_path,
        """\
        flows:
          - from: web
            to: sql
            services:
              - tcp/0
              - udp/65535
              - tcp/1000-2000
              - icmp
              - icmp/3:4
              - icmpv6/128
              - all
              - {protocol: tcp, port: 443}
              - {protocol: udp, from: 5, to: 6}
              - {protocol: icmp, type: 8, code: 0}
        """,
    )
    ports = load_topology(path).flows[0].ports
    assert ports == (
        PortSpec("tcp", 0, 0),
        PortSpec("udp", 65535, 65535),
        PortSpec("tcp", 1000, 2000),
        PortSpec("icmp", -1, -1),
        PortSpec("icmp", 3, 4),
        PortSpec("icmpv6", 128, -1),
        PortSpec("all"),
        PortSpec("tcp", 443, 443),
        PortSpec("udp", 5, 6),
        PortSpec("icmp", 8, 0),
    )


# --------------------------------------------------------------------------------------------- flows


def test_empty_flow_sides_and_services(tmp_path: Path) -> None:
    path = spec(tmp_path, "flows:\n  - from: []\n    to: sql\n    services: [tcp/1]\n")
    text = error_of(path)
    assert f"{at(path, '[]')}: error: the flow's 'from' is empty" in text

    path = spec(tmp_path, "flows:\n  - from: web\n    to: sql\n    services: []\n")
    text = error_of(path)
    assert f"{at(path, '[]')}: error: flows.0.services:" in text and "at least 1 item" in text


def test_a_spec_without_flows_is_a_warning(tmp_path: Path) -> None:
    topology = load_topology(spec(tmp_path, "flows: []\n"))
    assert topology.flows == []
    assert any("no flows" in d.message for d in topology.warnings)


def test_flows_need_a_role(tmp_path: Path) -> None:
    path = spec(
        tmp_path, "networks:\n  corp: {ipv4: [10.0.0.0/8]}\nflows:\n  - {from: corp, to: internet, services: [tcp/1]}\n"
    )
    text = error_of(path)
    assert f"{at(path, '{from: corp')}: error: a flow needs a role on at least one side" in text


def test_service_cycles_and_empty_services(tmp_path: Path) -> None:
    path = spec(
        tmp_path,
        """\
        services:
          a: {services: [b]}
          b: {services: [a]}
          c: {description: nothing}
        flows:
          - {from: web, to: sql, services: [a, c]}
        """,
    )
    text = error_of(path)
    assert "contains itself" in text
    assert f"{at(path, 'c: {')}: error: service 'c' has no ports" in text


# --------------------------------------------------------------------------------------------- duplicates


def test_duplicate_yaml_key_within_a_file(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "  web: {description: again}\nflows: []\n")
    text = error_of(path)
    assert f"{at(path, 'web:', 1)}: error: duplicate key 'web'" in text
    assert "already defined at line 3" in text


def test_duplicate_names_across_included_files(tmp_path: Path) -> None:
    write(tmp_path, "roles:\n  web: {}\nservices:\n  app: {ports: [tcp/1]}\n", "more.yaml")
    path = write(
        tmp_path,
        "name: t\ninclude: [more.yaml]\nroles:\n  web: {}\nservices:\n  app: {ports: [tcp/2]}\nflows: []\n",
    )
    text = error_of(path)
    more = tmp_path / "more.yaml"
    assert f"{at(more, 'web')}: error: duplicate role 'web'\n    'web' is already defined in {at(path, 'web')}" in text
    assert f"{at(more, 'app')}: error: duplicate service 'app'" in text


def test_spec_service_clashing_with_a_catalog_service(tmp_path: Path) -> None:
    path = spec(tmp_path, "catalogs: [windows-admin]\nservices:\n  rdp: {ports: [tcp/3390]}\nflows: []\n")
    text = error_of(path)
    assert f"{at(path, 'rdp:')}: error: duplicate service 'rdp'" in text
    assert "catalog 'windows-admin'" in text


def test_duplicate_parameter_across_files(tmp_path: Path) -> None:
    write(tmp_path, "parameters:\n  p: 1\n", "more.yaml")
    path = spec(tmp_path, "include: [more.yaml]\nparameters:\n  p: 2\nflows: []\n")
    text = error_of(path)
    assert "parameter 'p' is defined twice" in text


# --------------------------------------------------------------------------------------------- includes


def test_include_cycle(tmp_path: Path) -> None:
    write(tmp_path, "include: [b.yaml]\nroles:\n  b: {}\n", "a.yaml")
    write(tmp_path, "include: [a.yaml]\n", "b.yaml")
    path = spec(tmp_path, "include: [a.yaml]\nflows: []\n")
    text = error_of(path)
    assert (
        f"{at(tmp_path / 'b.yaml', 'a.yaml')}: error: include cycle: topology.yaml -> a.yaml -> b.yaml -> a.yaml"
        in text
    )


def test_include_self_and_missing_file(tmp_path: Path) -> None:
    path = spec(tmp_path, "include: [topology.yaml, missing.yaml]\nflows: []\n")
    text = error_of(path)
    assert f"{at(path, 'topology.yaml')}: error: include cycle: topology.yaml -> topology.yaml" in text
    assert f"{at(path, 'missing.yaml')}: error: file not found" in text


def test_included_files_cannot_set_root_keys(tmp_path: Path) -> None:
    write(tmp_path, "egress: strict\nroles:\n  db: {}\n", "more.yaml")
    path = spec(tmp_path, "include: [more.yaml]\nflows: []\n")
    text = error_of(path)
    assert f"{at(tmp_path / 'more.yaml', 'egress')}: error: 'egress' can only be set in the top-level spec" in text


def test_includes_merge_roles_networks_services_and_flows(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    write(
        tmp_path,
        """\
        networks:
          corp: {ipv4: [10.20.0.0/16]}
        services:
          app: {ports: [tcp/8080]}
        flows:
          - {from: corp, to: web, services: [app]}
        """,
        "sub/more.yaml",
    )
    path = spec(tmp_path, "include: [sub/more.yaml]\nflows:\n  - {from: web, to: sql, services: [tcp/1433]}\n")
    topology = load_topology(path)
    assert set(topology.networks) == {"internet", "corp"}
    assert [(f.sources, f.destinations) for f in topology.flows] == [(("web",), ("sql",)), (("corp",), ("web",))]
    assert str(topology.flows[1].loc).startswith(str(tmp_path / "sub/more.yaml"))


# --------------------------------------------------------------------------------------------- parameters


PARAMS = """\
parameters:
  app_port:
    default: 8080
  license_port:
    description: no default
"""


def test_unset_parameter(tmp_path: Path) -> None:
    path = spec(tmp_path, PARAMS + 'flows:\n  - {from: web, to: sql, services: ["tcp/${license_port}"]}\n')
    text = error_of(path)
    assert f"{at(path, Q + 'tcp/${license_port}')}: error: parameter 'license_port' has no value" in text
    assert "pass --var license_port=VALUE" in text
    topology = load_topology(path, {"license_port": "27000"})
    assert topology.flows[0].ports == (PortSpec("tcp", 27000, 27000),)


def test_var_overrides_a_default_and_unknown_var_is_an_error(tmp_path: Path) -> None:
    path = spec(tmp_path, PARAMS + 'flows:\n  - {from: web, to: sql, services: ["tcp/${app_port}"]}\n')
    assert load_topology(path, {"license_port": "1"}).flows[0].ports == (PortSpec("tcp", 8080, 8080),)
    assert load_topology(path, {"app_port": "9090", "license_port": "1"}).flows[0].ports == (
        PortSpec("tcp", 9090, 9090),
    )
    text = error_of(path, variables={"app_prt": "1"})
    assert "--var 'app_prt=1': no such parameter 'app_prt'" in text and "did you mean 'app_port'?" in text
    assert "parameters: app_port, license_port" in text
    text = error_of(path, variables={"app_port": "99999", "license_port": "1"})
    assert "--var 'app_port=99999': 99999 is outside 0-65535" in text and "give a whole number 0-65535" in text
    text = error_of(path, variables={"app_port": "http", "license_port": "1"})
    assert "--var 'app_port=http': 'http' is not a number" in text and "e.g. --var app_port=8080" in text


def test_unknown_parameter_in_a_port(tmp_path: Path) -> None:
    path = spec(tmp_path, PARAMS + 'flows:\n  - {from: web, to: sql, services: ["tcp/${app_prot}"]}\n')
    text = error_of(path)
    assert "unknown parameter 'app_prot'" in text and "did you mean 'app_port'?" in text


def test_spec_value_overrides_a_catalog_parameter(tmp_path: Path) -> None:
    path = spec(
        tmp_path,
        "catalogs: [dynamics365, active-directory, sql-server]\nparameters:\n  d365_web_port: 5555\n"
        "flows:\n  - {from: web, to: sql, services: [d365-web-http]}\n",
    )
    assert load_topology(path).flows[0].ports == (PortSpec("tcp", 5555, 5555),)
    assert load_topology(path, {"d365_web_port": "81"}).flows[0].ports == (PortSpec("tcp", 81, 81),)


# --------------------------------------------------------------------------------------------- phases


PHASED = """\
flows:
  - {from: web, to: sql, services: [tcp/1433]}
  - {from: web, to: sql, services: [udp/1434], phase: setup}
  - {from: sql, to: web, services: [tcp/808], phase: migrate}
"""


def test_phase_filtering(tmp_path: Path) -> None:
    path = spec(tmp_path, PHASED)
    plain = load_topology(path)
    assert [f.ports for f in plain.flows] == [(PortSpec("tcp", 1433, 1433),)]
    assert [f.phase for f in plain.skipped_flows] == ["setup", "migrate"]
    setup = load_topology(path, phase="setup")
    assert [f.phase for f in setup.flows] == [None, "setup"]
    assert setup.phase == "setup"
    assert [f.phase for f in setup.skipped_flows] == ["migrate"]


def test_unknown_phase_is_a_warning_with_did_you_mean(tmp_path: Path) -> None:
    topology = load_topology(spec(tmp_path, PHASED), phase="setpu")
    assert len(topology.flows) == 1
    assert any("no flow has phase 'setpu'" in d.message and "'setup'" in d.hint for d in topology.warnings)


# --------------------------------------------------------------------------------------------- files


def test_yaml_syntax_error_has_a_position(tmp_path: Path) -> None:
    path = write(tmp_path, "name: t\nroles:\n  web: {\nflows: []\n")
    text = error_of(path)
    assert "YAML syntax error" in text and f"{path}:" in text


def test_missing_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="spec file not found"):
        load_topology(tmp_path / "nope.yaml")
    path = write(tmp_path, "")
    assert f"{path}:1:1: error: the file is empty" in error_of(path)
    path = write(tmp_path, "- a\n- b\n")
    assert "the file must be a YAML mapping" in error_of(path)


def test_every_problem_is_reported_not_just_the_first(tmp_path: Path) -> None:
    path = spec(
        tmp_path,
        """\
        networks:
          corp: {ipv4: [10.20.0.1/16]}
        flows:
          - {from: wbe, to: sql, services: [tcp/70000]}
          - {from: web, to: sqll, services: [tcp/2-1]}
        """,
    )
    with pytest.raises(SpecError) as exc:
        load_topology(path)
    messages = [d.message for d in exc.value.diagnostics]
    assert len(messages) >= 4, messages
    locs = [d.loc for d in exc.value.diagnostics]
    assert all(loc is not None and loc.file == str(path) for loc in locs)
    assert locs == sorted(locs)


def test_every_example_loads(tmp_path: Path) -> None:
    for path in sorted(Path(__file__).resolve().parent.parent.glob("examples/*/topology.yaml")):
        for phase in (None, "setup"):
            topology = load_topology(path, phase=phase)
            assert topology.flows and topology.roles
            assert all(f.loc.file == str(path) for f in topology.flows)


# --------------------------------------------------------------------------------------------- CLI


def test_cli_bad_spec_exits_1_with_position_and_no_traceback(tmp_path: Path, capsys) -> None:
    path = spec(tmp_path, "flows:\n  - {from: wbe, to: sql, services: [tcp/1]}\n")
    for argv in (["validate", str(path)], ["show", str(path), "--target", "aws"], ["show", str(path), "-t", "azure"]):
        assert main(argv) == 1
        captured = capsys.readouterr()
        assert f"{at(path, 'wbe')}: error: unknown role or network 'wbe'" in captured.err
        assert "did you mean 'web'?" in captured.err
        assert "Traceback" not in captured.err + captured.out


def test_cli_var_and_phase(tmp_path: Path, capsys) -> None:
    path = spec(tmp_path, PARAMS + PHASED.replace("tcp/1433", '"tcp/${license_port}"'))
    assert main(["validate", str(path)]) == 1
    assert "license_port" in capsys.readouterr().err
    assert main(["validate", str(path), "--var", "license_port=27000", "--phase", "setup"]) == 0
    out = capsys.readouterr().out
    assert "ok" in out and "2 flows" in out
    assert main(["validate", str(path), "--var", "nosuch=1"]) == 1
    assert "--var 'nosuch=1': no such parameter 'nosuch'" in capsys.readouterr().err
    assert main(["validate", str(path), "--var", "license_port"]) == 1
    assert "expected name=value" in capsys.readouterr().err


def test_cli_usage_errors_exit_1_not_2(tmp_path: Path, capsys) -> None:
    path = spec(tmp_path, "flows:\n  - {from: web, to: sql, services: [tcp/1]}\n")
    assert main(["validate", str(path), "--bogus"]) == 1
    captured = capsys.readouterr()
    assert "--bogus" in captured.err and "Traceback" not in captured.err
    assert main(["no-such-command"]) == 1
    assert main(["show", str(path), "--target", "gcp"]) == 1
    assert main(["validate", str(tmp_path / "missing.yaml")]) == 1
    assert "Traceback" not in capsys.readouterr().err
    assert main(["validate", str(path)]) == 0


# --------------------------------------------------------------------------------------------- any input


def test_non_utf8_bytes_and_control_characters_have_positions(tmp_path: Path) -> None:
    path = tmp_path / "topology.yaml"
    path.write_bytes(b"name: t\nroles:\n  w\xffb: {}\n")
    assert f"{path}:3:4: error: byte 0xff is not UTF-8 text" in error_of(path)
    for char, col in (("\x01", 9), ("\x00", 9)):
        path.write_text(f"name: t\nroles: {{{char}}}\n")
        assert f"{path}:2:{col}: error: character #x{ord(char):04x} is not allowed in YAML" in error_of(path)


@pytest.mark.parametrize(
    "text",
    ["zz: &r {a: *r}\n", "zz: &r [*r]\n", "m: &m {<<: *m}\n"],
)
def test_recursive_aliases_are_errors(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, HEADER + text)
    assert "recursive alias: this value contains itself" in error_of(path)


@pytest.mark.parametrize(
    ("value", "tag"),
    [
        ("!!float abc", "!!float"),
        ("!!int", "!!int"),
        ("!!timestamp 2020-13-45", "!!timestamp"),
        ("!!bool maybe", "!!bool"),
    ],
)
def test_bad_tagged_scalars(tmp_path: Path, value: str, tag: str) -> None:
    path = write(tmp_path, HEADER + f"description: {value}\n")
    assert f"{at(path, '!!')}: error:" in (text := error_of(path)) and f"is not a valid {tag}" in text


def test_alias_expansion_is_limited(tmp_path: Path) -> None:
    levels = "".join(f"l{i + 1}: &l{i + 1} [{', '.join([f'*l{i}'] * 10)}]\n" for i in range(8))
    path = write(tmp_path, HEADER + "l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n" + levels)
    assert "expands to more than 200000 values (aliases included)" in (text := error_of(path))
    assert "MAX_NODES" in text


@pytest.mark.parametrize("depth", [990, 100_000])
def test_nesting_depth_is_limited(tmp_path: Path, depth: int) -> None:
    path = write(tmp_path, HEADER + "description: " + "[" * depth + "]" * depth + "\n")
    text = error_of(path)
    # Where the error points within line 5 depends on which parser stops first (cloudports' event check, or
    # PyYAML's own scanner limit in newer releases); the user sees the same finding either way.
    assert f"{path}:5:" in text and "nesting deeper than 64 levels" in text and "MAX_DEPTH" in text


def test_aliases_cannot_deepen_nesting_past_the_limit(tmp_path: Path) -> None:
    chain = "".join(f"a{i + 1}: &a{i + 1} [*a{i}]\n" for i in range(100))
    assert "nesting deeper than 64 levels" in error_of(write(tmp_path, HEADER + "a0: &a0 [x]\n" + chain))


def test_merge_keys_explicit_keys_win(tmp_path: Path) -> None:
    path = spec(
        tmp_path,
        "flows:\n  - &f {from: web, to: sql, services: [tcp/1]}\n  - {<<: *f, services: [tcp/2]}\n",
    )
    assert [f.ports for f in load_topology(path).flows] == [(PortSpec("tcp", 1, 1),), (PortSpec("tcp", 2, 2),)]


def test_schema_alias_by_field_name_is_refused(tmp_path: Path) -> None:
    path = spec(tmp_path, "flows:\n  - {from_: web, to: sql, services: [tcp/1]}\n")
    text = error_of(path)
    assert f"{at(path, 'from_')}: error: unknown key 'from_'" in text and "did you mean 'from'?" in text
    path = spec(tmp_path, "flows:\n  - {from: web, to: sql, services: [{protocol: tcp, from_: 1, to: 2}]}\n")
    assert "unknown key 'from_'" in error_of(path)


def _include(tmp_path: Path, target: str) -> tuple[Path, str]:
    """A spec including `target` (YAML double-quoted text) and the position of that include."""
    path = spec(tmp_path, f'include: ["{target}"]\nflows: []\n')
    return path, at(path, Q)


def test_includes_must_be_regular_files_under_the_size_limit(tmp_path: Path) -> None:
    with open(tmp_path / "sparse.yaml", "wb") as handle:
        handle.truncate(2 << 30)
    os.mkfifo(tmp_path / "fifo.yaml")
    for target, message in (
        ("/dev/zero", "/dev/zero is not a regular file"),
        ("fifo.yaml", "fifo.yaml is not a regular file"),
        (".", "is not a regular file"),
        ("sparse.yaml", f"sparse.yaml is larger than {1 << 20} bytes"),
    ):
        path, where = _include(tmp_path, target)
        started = time.perf_counter()
        assert f"{where}: error: " in (text := error_of(path)) and message in text
        assert time.perf_counter() - started < 2


def test_bad_include_paths_are_errors_at_the_include_line(tmp_path: Path) -> None:
    (tmp_path / "loop1.yaml").symlink_to("loop2.yaml")
    (tmp_path / "loop2.yaml").symlink_to("loop1.yaml")
    for target in ("a\\0b.yaml", "x" * 5000 + ".yaml", "loop1.yaml"):
        path, where = _include(tmp_path, target)
        assert f"{where}: error: cannot " in error_of(path)


def test_the_top_level_spec_is_size_limited_too(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "description: " + "x" * (1 << 20) + "\n")
    assert f"is larger than {1 << 20} bytes" in error_of(path)


def test_var_options_name_the_option(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as exc:
        parse_var_options(["noequals", "=1", "9x=1", "a=1", "a=2"])
    messages = [d.message for d in exc.value.diagnostics]
    assert messages == [
        "--var 'noequals': expected name=value",
        "--var '=1': expected name=value",
        "--var '9x=1': '9x' is not a parameter name",
        "--var 'a=2': 'a' is given twice",
    ]
    assert all(d.hint for d in exc.value.diagnostics)
    assert parse_var_options(["a = 1", "b=x=y"]) == {"a": "1", "b": "x=y"}


def test_a_process_parses_each_builtin_catalog_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """`drift FOLDER` of a hundred labs loads the same catalogs a hundred times: parsed once, the same topology."""
    from cloudports.spec import documents

    example = Path(__file__).resolve().parent.parent / "examples" / "dynamics365-distributed" / "topology.yaml"
    monkeypatch.setattr(documents, "_PARSED_CATALOGS", {})
    parsed: list[Path] = []
    parse = documents.parse_document
    monkeypatch.setattr(documents, "parse_document", lambda path, *a, **k: parsed.append(path) or parse(path, *a, **k))
    first = load_topology(example)
    catalogs = [p for p in parsed if p.parent == documents.CATALOG_DIR]
    assert catalogs
    parsed.clear()
    assert load_topology(example) == first
    assert [p for p in parsed if p.parent == documents.CATALOG_DIR] == []
