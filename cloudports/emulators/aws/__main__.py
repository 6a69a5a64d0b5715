"""``python -m cloudports.emulators.aws -p 5000``: moto with the EC2 corrections on 127.0.0.1 until Ctrl-C."""

from __future__ import annotations

import argparse
import sys

from .server import LOOPBACK, MotoNotInstalled, serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cloudports.emulators.aws", description=(serve.__doc__ or "").splitlines()[0]
    )
    parser.add_argument("-H", "--host", default=LOOPBACK)
    parser.add_argument("-p", "--port", type=int, default=5000, help="TCP port (0 = any free port)")
    parser.add_argument("--ready-file", help="write the endpoint URL to this file once the server answers")
    args = parser.parse_args(argv)
    try:
        serve(args.host, args.port, args.ready_file)
    except MotoNotInstalled as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
