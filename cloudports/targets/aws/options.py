"""The AWS target's live-command options, readable without loading the target (see targets/declarations.py)."""

from cloudports.targets.declarations import Option

OPTIONS = (
    Option("profile", "--profile", "named profile"),
    Option("region", "--region", "region (overrides the spec)"),
    Option("vpc_id", "--vpc-id", "VPC (overrides the spec)"),
    Option(
        "allow_gap",
        "--allow-gap",
        "apply even where no order of calls keeps every declared flow open (the plan says where)",
        is_flag=True,
    ),
)
