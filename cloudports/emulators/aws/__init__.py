"""moto as a real HTTP server on 127.0.0.1, with corrections that make its EC2 security groups behave like AWS.

``start_moto_server()`` (tests, benchmarks) or ``python -m cloudports.emulators.aws -p 5000`` (by hand). moto
is optional (``pip install 'cloudports[emulators]'``): importing this package works without it; starting a
server without it raises :class:`MotoNotInstalled` with the install hint. The corrections and why moto needs
them are in patches.py.
"""

from .clients import (
    ACCESS_KEY,
    REGION,
    SECRET_KEY,
    aws_env_for,
    boto3_client,
    create_vpc,
    drop_answers,
    dropped_answers,
    moto_dashboard_state,
    reset_moto,
)
from .server import MotoNotInstalled, MotoServer, require_moto, serve, start_moto_server

__all__ = [
    "ACCESS_KEY",
    "REGION",
    "SECRET_KEY",
    "MotoNotInstalled",
    "MotoServer",
    "aws_env_for",
    "boto3_client",
    "create_vpc",
    "drop_answers",
    "dropped_answers",
    "moto_dashboard_state",
    "require_moto",
    "reset_moto",
    "serve",
    "start_moto_server",
]
