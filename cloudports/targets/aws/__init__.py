"""AWS: one security group per role; rules as aws_vpc_security_group_{ingress,egress}_rule."""
