"""query: may A open a connection to B — by the spec's intent, or by one cloud's compiled rules?"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cloudports.cli import common
from cloudports.cli.common import (
    TARGET_METAVAR,
    Format,
    FormatOpt,
    LiveOpt,
    PhaseOpt,
    SpecArg,
    VarOpt,
    compile_policy,
    for_target,
    one_live_target,
)
from cloudports.cli.target_options import TargetOptions, options_for, with_reading_options
from cloudports.gcpause import gc_paused
from cloudports.targets import registry

if TYPE_CHECKING:
    from cloudports.query.ask import Answer, Evaluate
    from cloudports.query.model import Point
    from cloudports.query.space import Reachability
    from cloudports.spec.model import Topology
    from cloudports.targets.base import Target

ALLOWED, DENIED = 0, 3


def _known(name: str | None) -> str | None:
    if name is not None:
        registry.get(name)
    return name


_ENDPOINT = (
    "Role, network, IP address or CIDR, or internet; with --live also a machine: instance or interface ID, NIC or "
    "VM name, private address"
)
FromOpt = Annotated[str, typer.Option("--from", help=_ENDPOINT, metavar="FROM")]
ToOpt = Annotated[str, typer.Option("--to", help=_ENDPOINT, metavar="TO")]
PortOpt = Annotated[
    str | None,
    typer.Option(
        "--port", "-p", help="tcp/1433, udp/1434, icmp/8 or all; every port when omitted", metavar="PROTO/PORT"
    ),
]
QueryTargetOpt = Annotated[
    str | None,
    typer.Option(
        "--target",
        "-t",
        help="Judge one cloud's compiled rules (default: the spec's intent)",
        callback=_known,
        metavar=TARGET_METAVAR,
        autocompletion=registry.names,
    ),
]


@with_reading_options
@gc_paused()  # as the compile commands (compile_commands.py)
def query(
    spec: SpecArg,
    source: FromOpt,
    destination: ToOpt,
    port: PortOpt = None,
    target: QueryTargetOpt = None,
    live: LiveOpt = False,
    fmt: FormatOpt = Format.table,
    var: VarOpt = None,
    phase: PhaseOpt = None,
    *,
    target_options: TargetOptions,
) -> int:
    """May FROM open a connection to TO? Says which flows (spec file:line) or cloud rules decide it.

    Exit 0 allowed, 3 denied, 1 error."""
    if live and target is None:
        raise one_live_target("query")
    from cloudports.query.ask import Answer, judge, listing, parse_port, widened_icmp
    from cloudports.query.intent import Intent, explain_intent
    from cloudports.query.model import Verdict

    policy = compile_policy(spec, var, phase)
    topology = policy.topology
    evaluate: Evaluate = lambda p: explain_intent(topology, p)  # noqa: E731
    reach: Reachability = Intent(topology)  # the same judge's answers as Spaces: listing asks only where they admit
    by = "the spec's intent"
    chosen, state = None, None
    if target is not None:
        chosen = for_target(policy, target, show_widening=False)  # a widened answer says so in its reasons
        if live:
            # adopt: also read same-name resources without ownership tags (a lab just imported); nothing is written.
            # machines: an endpoint may be a machine, judged with every group it carries.
            backend = chosen.open_backend(policy, options_for(chosen, target_options), adopt=True)
            state = backend.read_state(machines=True)
        else:
            state = chosen.build(policy)
        evaluate = lambda p: chosen.explain(state, p)  # noqa: E731
        reach = chosen.reachability(state)
        by = f"{target} ({chosen.title}{', live' if live else ''})"
    src_name, srcs = _endpoint(topology, source, chosen if live else None, state)
    dst_name, dsts = _endpoint(topology, destination, chosen if live else None, state)
    if port is not None:
        protocol, number = parse_port(port)
        verdict = judge(evaluate, srcs, dsts, protocol, number)
        if chosen is not None and verdict.allowed and not chosen.capabilities.icmp_types:
            extra = widened_icmp(topology, srcs, dsts, protocol, number)
            verdict = Verdict(True, (*verdict.reasons, extra)) if extra else verdict
        answers = [Answer(port, verdict)]
        allowed = verdict.allowed
    else:
        answers = listing(topology, evaluate, srcs, dsts, reach)
        allowed = bool(answers)
    head = {"from": src_name, "to": dst_name, "by": by, "target": target, "allowed": allowed}
    _print(head, answers, port is None, fmt)
    return ALLOWED if allowed else DENIED


def _endpoint(topology: Topology, text: str, live_target: Target | None, state: Any) -> tuple[str, list[Point]]:
    """A role or network of the spec, else (live) a machine, else an address."""
    from cloudports.query.ask import resolve

    if live_target is not None and text not in topology.roles and text not in topology.networks:
        point = live_target.machine(state, text)
        if point is not None:
            return point.label, [point]
    return resolve(topology, text)


def _print(head: dict[str, Any], answers: list[Answer], listed: bool, fmt: Format) -> None:
    if fmt is Format.json:
        from cloudports.live.plan import JSON_VERSION

        document = {"version": JSON_VERSION, "command": "query", **head, "answers": [a.as_dict() for a in answers]}
        common.out.print_json(json.dumps(document))
        return
    if listed:
        verdict = f"{len(answers)} protocol/port range(s) allowed" if answers else "nothing allowed"
    else:
        verdict = "ALLOWED" if head["allowed"] else "DENIED"
    common.out.print(f"{head['from']} -> {head['to']}: {verdict} by {head['by']}", markup=False, highlight=False)
    for answer in answers:
        if listed:
            common.out.print(f"  {answer.what}", markup=False, highlight=False)
        for r in answer.verdict.reasons:
            mark = "+" if r.admits else "x"
            where = f" [{r.ref}]" if r.ref and r.ref not in r.text else ""
            side = f"{r.direction}: " if r.direction else ""
            common.out.print(f"    {mark} {side}{r.text}{where}", markup=False, highlight=False)


COMMANDS = (query,)
