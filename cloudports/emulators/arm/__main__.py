"""``python -m cloudports.emulators.arm --port 8443``: run the local ARM server until interrupted."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .model import LOOPBACK
from .server import ArmServer

SNIPPET = """\
Point the real SDK at it (plain http, so replace the bearer-token policy):

    from cloudports.emulators.arm.client import make_network_client
    client = make_network_client("{url}", "{sub}", retry_total=0)

or by hand:

    from azure.core.pipeline.policies import SansIOHTTPPolicy
    from azure.mgmt.network import NetworkManagementClient

    class Bearer(SansIOHTTPPolicy):
        def on_request(self, request):
            request.http_request.headers["Authorization"] = "Bearer anything"

    client = NetworkManagementClient(
        credential=object(), subscription_id="{sub}", base_url="{url}",
        authentication_policy=Bearer(), polling_interval=0,
    )

Control endpoints: GET {url}/_arm/requests, POST {url}/_arm/faults, POST {url}/_arm/reset,
POST {url}/_arm/subnets, POST {url}/_arm/operations/complete.  Ctrl-C stops the server.
"""


def _subnet(text: str) -> tuple[str, str, str, str, str]:
    """SUB/RG/VNET/SUBNET=PREFIX"""
    path, sep, prefix = text.partition("=")
    parts = path.split("/")
    if not sep or len(parts) != 4 or not all(parts):
        raise argparse.ArgumentTypeError("expected SUBSCRIPTION/RESOURCE_GROUP/VNET/SUBNET=PREFIX")
    return parts[0], parts[1], parts[2], parts[3], prefix


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cloudports.emulators.arm", description=__doc__)
    parser.add_argument("--port", type=int, default=8443, help="TCP port on 127.0.0.1 (0 = any free port)")
    parser.add_argument("--host", default=LOOPBACK, help="only 127.0.0.1 is accepted")
    parser.add_argument("--page-size", type=int, default=50)
    parser.add_argument("--lro-polls", type=int, default=1, help="InProgress answers before an operation completes")
    parser.add_argument(
        "--lro-complete-after", type=float, default=None, help="also complete operations after N seconds"
    )
    parser.add_argument(
        "--lro-latency", type=float, default=0.0, help="every operation takes at least N seconds (as Azure's do)"
    )
    parser.add_argument("--conflict-status", type=int, choices=(409, 429), default=409)
    parser.add_argument(
        "--subnet",
        type=_subnet,
        action="append",
        default=[],
        metavar="SUB/RG/VNET/SUBNET=PREFIX",
        help="pre-create a subnet (repeatable)",
    )
    parser.add_argument("--no-auth", action="store_true", help="do not require an Authorization header")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    parser.add_argument("--ready-file", help="write the server's URL to this file once it answers")
    args = parser.parse_args(argv)
    if args.host not in (LOOPBACK, "localhost"):
        parser.error(f"refusing to bind to {args.host}: this test server listens on {LOOPBACK} only")

    server = ArmServer(
        args.port,
        page_size=args.page_size,
        lro_polls=args.lro_polls,
        lro_complete_after=args.lro_complete_after,
        lro_latency=args.lro_latency,
        conflict_status=args.conflict_status,
        subnets=args.subnet,
        require_auth=not args.no_auth,
        verbose=args.verbose,
    )
    with server:
        sub = args.subnet[0][0] if args.subnet else "00000000-0000-0000-0000-000000000000"
        print(f"ARM server listening on {server.url}", flush=True)
        print(SNIPPET.format(url=server.url, sub=sub), flush=True)
        if args.ready_file:  # for scripts that start the server in the background and must wait for it
            partial = Path(f"{args.ready_file}.partial")  # renamed into place: never read half-written
            partial.write_text(server.url + "\n", encoding="utf-8")
            partial.replace(args.ready_file)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print("stopping", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
