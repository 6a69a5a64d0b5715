"""The Azure target's live-command options, readable without loading the target (see targets/declarations.py)."""

from cloudports.targets.declarations import Option

OPTIONS = (
    Option("subscription", "--subscription", "subscription (or AZURE_SUBSCRIPTION_ID)"),
    Option("resource_group", "--resource-group", "resource group (overrides the spec)"),
    Option("arm_endpoint", "--arm-endpoint", "Resource Manager URL (or CLOUDPORTS_ARM_ENDPOINT)", metavar="URL"),
    Option(
        "prune",
        "--prune",
        "also remove the live rules the spec lists as unmanaged (kept, not managed)",
        is_flag=True,
    ),
)
IMPORT_OPTIONS = (
    Option(
        "nsgs",
        "--nsg",
        "import this NSG, or these (A,B: one per subnet) (default: the only one in the resource group, or all of "
        "one topology's)",
        metavar="NAME",
    ),
)
