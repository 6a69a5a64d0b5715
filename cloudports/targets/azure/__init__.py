"""Azure NSGs and ASGs (see target.py); registered in cloudports/targets/registry.py."""

from cloudports.targets.azure.target import AzureTarget

TARGET = AzureTarget()
