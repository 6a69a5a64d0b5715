terraform {
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # aws_vpc_security_group_{ingress,egress}_rule exist since 4.56; tested with 5.100.0.
      version = ">= 5.0"
    }
  }
}
