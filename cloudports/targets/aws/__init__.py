"""AWS security groups (see target.py); registered in cloudports/targets/registry.py."""

from cloudports.targets.aws.target import AwsTarget

TARGET = AwsTarget()
