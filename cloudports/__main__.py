"""`python -m cloudports`: the same as the `cloudports` command."""

from cloudports.cli import run

run()
