"""`python -m cloudports`: the same as the `cloudports` command."""

import sys

from cloudports.cli import main

sys.exit(main())
