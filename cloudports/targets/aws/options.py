"""The AWS target's live-command options, readable without loading the target (see targets/declarations.py)."""

from cloudports.targets.declarations import Option

OPTIONS = (
    Option("profile", "--profile", "named profile"),
    Option("region", "--region", "region (overrides the spec)"),
    Option("vpc_id", "--vpc-id", "VPC (overrides the spec)", metavar="VPC"),
    Option(
        "allow_gap",
        "--allow-gap",
        "apply even where no order of calls keeps every declared flow open (the plan says where)",
        is_flag=True,
        writes_only=True,
    ),
    Option(
        "prune",
        "--prune",
        "also remove the live rules the spec lists as unmanaged (kept, not managed)",
        is_flag=True,
    ),
)
IMPORT_OPTIONS = (
    Option(
        "group_ids",
        "--group-id",
        "import this security group (repeatable; default: every group)",
        repeatable=True,
        metavar="ID",
    ),
    Option(
        "name_prefix",
        "--name-prefix",
        "import groups whose name starts with this; role = name without it",
        metavar="PREFIX",
    ),
    Option(
        "tags", "--tag", "import groups carrying this tag, key=value (repeatable)", repeatable=True, metavar="KEY=VALUE"
    ),
)
