"""moto as a real HTTP server, in a thread of this process, with the EC2 corrections of patches.py applied.

moto is an optional dependency (the ``emulators`` extra): this module imports it only when a server starts,
so that ``import cloudports.emulators.aws`` works without it and starting says what to install.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .clients import aws_env_for, boto3_client, reset_moto

if TYPE_CHECKING:
    from moto.server import ThreadedMotoServer

LOOPBACK = "127.0.0.1"
INSTALL_HINT = "pip install 'cloudports[emulators]'  (or: pip install 'moto[server]>=5.0.20')"


class MotoNotInstalled(RuntimeError):
    """moto, or the flask it needs for server mode, is not installed."""


def require_moto() -> None:
    """Fail with an install hint unless moto and its server mode (flask) can be imported."""
    missing = [name for name in ("moto", "flask") if importlib.util.find_spec(name) is None]
    if missing:
        raise MotoNotInstalled(
            f"the AWS emulator needs moto's server mode (not installed: {', '.join(missing)}); {INSTALL_HINT}"
        )


@dataclass
class MotoServer:
    """A started ThreadedMotoServer and the URL to reach it."""

    server: ThreadedMotoServer
    endpoint_url: str

    def reset(self) -> None:
        """Drop every resource in every moto backend (POST /moto-api/reset)."""
        reset_moto(self.endpoint_url)

    def stop(self) -> None:
        self.server.stop()

    def env(self) -> dict[str, str]:
        """Environment that points the AWS SDKs (boto3, Terraform's provider) at this server."""
        return aws_env_for(self.endpoint_url)

    def client(self, service: str = "ec2") -> Any:
        return boto3_client(self.endpoint_url, service)

    def after_write(self) -> list[Callable[[str], None]]:
        """Callbacks run after each write call the server carries out (faults.py); a test appends and clears."""
        running: Any = self.server._server  # its app is the FaultInjector that _server_class wraps moto's app in
        callbacks: list[Callable[[str], None]] = running.app.after_write
        return callbacks


def _server_class() -> type[ThreadedMotoServer]:
    """ThreadedMotoServer whose WSGI app is wrapped in the fault injector (faults.py), on 127.0.0.1 only."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from moto.server import ThreadedMotoServer
    from werkzeug.serving import make_server

    from .faults import FaultInjector

    class FaultInjectingMotoServer(ThreadedMotoServer):
        # Same as ThreadedMotoServer._server_entry (moto 5.2.x), with the app wrapped.
        def _server_entry(self) -> None:
            app = DomainDispatcherApplication(create_backend_app)
            wrapped = FaultInjector(app) if self._ip_address == LOOPBACK else app
            self._server = make_server(self._ip_address, self._port, wrapped, True)
            self._server_ready_event.set()
            self._server.serve_forever()

    return FaultInjectingMotoServer


def start_moto_server(host: str = LOOPBACK, port: int = 0) -> MotoServer:
    """Start moto with the EC2 corrections on ``host``:``port`` (0 = a free port) and return it running.

    On 127.0.0.1 the server can also lose the answers of write calls it carried out (faults.py)."""
    require_moto()
    # moto builds several thousand images into every region's EC2 backend, after every reset: most of the time a
    # test spends on a fresh VPC. The labs need one Windows image; a user's own MOTO_AMIS_PATH wins. Read when
    # moto's EC2 models are first imported, so it is set before patches.py imports them.
    os.environ.setdefault("MOTO_AMIS_PATH", str(Path(__file__).with_name("amis.json")))
    from .patches import apply_moto_patches

    apply_moto_patches()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access-log line per API call otherwise
    server = _server_class()(ip_address=host, port=port, verbose=False)
    server.start()
    bound_host, bound_port = server.get_host_and_port()
    return MotoServer(server=server, endpoint_url=f"http://{bound_host}:{bound_port}")


def serve(host: str = LOOPBACK, port: int = 5000, ready_file: str | None = None) -> None:
    """A moto server with the EC2 corrections, for trying cloudports by hand (docs/aws-live.md); Ctrl-C stops it.

    Plain `moto_server` works too, but it loses the descriptions of group-reference rules (aws.md §4.3
    item 5), which `drift` then reports as changed rules that no apply can fix.
    """
    running = start_moto_server(host, port)
    print(f"moto (EC2 corrected as in the tests) on {running.endpoint_url}; Ctrl-C stops it", flush=True)
    if ready_file:  # for scripts that start the server in the background and must wait until it answers
        partial = Path(f"{ready_file}.partial")  # renamed into place: a reader never sees half a URL
        partial.write_text(running.endpoint_url + "\n", encoding="utf-8")
        partial.replace(ready_file)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        running.stop()
