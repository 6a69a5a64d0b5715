# terraform test: the module applied against an EC2 API (the test suite points AWS_ENDPOINT_URL at a local moto
# server: tests/test_terraform_native.py), then the rules read back through the API.

provider "aws" {
  region = "us-east-1"
}

variables {
  name_prefix = "tftest-"
  tags        = { "cloudports:topology" = "tftest" }

  groups = {
    web = { name = "web", description = "Web tier" }
    db  = { name = "db", description = "Database tier (no egress)" }
  }

  ingress_rules = {
    "web/in/tcp/443/cidr:0.0.0.0/0" = {
      group       = "web"
      ip_protocol = "tcp"
      from_port   = 443
      to_port     = 443
      cidr_ipv4   = "0.0.0.0/0"
      description = "HTTPS from anywhere"
    }
    "web/in/icmp/8:0/cidr:10.0.0.0/16" = {
      group       = "web"
      ip_protocol = "icmp"
      from_port   = 8 # ICMP type: echo request
      to_port     = 0 # ICMP code
      cidr_ipv4   = "10.0.0.0/16"
    }
    "db/in/tcp/1433/sg:web" = {
      group            = "db"
      ip_protocol      = "tcp"
      from_port        = 1433
      to_port          = 1433
      referenced_group = "web"
      description      = "SQL from the web tier"
    }
  }

  egress_rules = {
    "web/out/tcp/1433/sg:db" = {
      group            = "web"
      ip_protocol      = "tcp"
      from_port        = 1433
      to_port          = 1433
      referenced_group = "db"
    }
  }
}

run "vpc" {
  module {
    source = "./tests/setup"
  }
}

run "creates_one_rule_per_entry" {
  variables {
    vpc_id = run.vpc.vpc_id
  }

  assert {
    condition     = sort(keys(aws_vpc_security_group_ingress_rule.this)) == sort(keys(var.ingress_rules)) && sort(keys(aws_vpc_security_group_egress_rule.this)) == sort(keys(var.egress_rules))
    error_message = "One rule resource per map entry, under the entry's key."
  }

  assert {
    condition     = alltrue([for r in values(output.ingress_rule_ids) : startswith(r, "sgr-")]) && length(output.egress_rule_ids) == 1
    error_message = "Every rule has its own sgr- ID."
  }

  assert {
    condition     = aws_vpc_security_group_ingress_rule.this["db/in/tcp/1433/sg:web"].referenced_security_group_id == output.security_group_ids["web"]
    error_message = "referenced_group becomes the referenced group's ID."
  }

  assert {
    condition     = output.security_group_names == { web = "tftest-web", db = "tftest-db" }
    error_message = "Group names are name_prefix + name."
  }
}

run "read_back" {
  module {
    source = "./tests/read_back"
  }

  variables {
    group_ids = run.creates_one_rule_per_entry.security_group_ids
  }

  assert {
    condition     = length(output.rules) == 4
    error_message = "The groups hold exactly the four declared rules: AWS's default allow-all egress is gone (${jsonencode(output.rules)})."
  }

  assert {
    condition = length([
      for r in values(output.rules) : r if !r.is_egress && r.group == run.creates_one_rule_per_entry.security_group_ids["db"]
      && r.protocol == "tcp" && r.from_port == 1433 && r.to_port == 1433
      && r.peer == run.creates_one_rule_per_entry.security_group_ids["web"]
    ]) == 1
    error_message = "db admits SQL from the web group."
  }

  assert {
    condition = length([
      for r in values(output.rules) : r if !r.is_egress && r.group == run.creates_one_rule_per_entry.security_group_ids["web"]
      && r.protocol == "icmp" && r.from_port == 8 && r.to_port == 0 && r.cidr_ipv4 == "10.0.0.0/16"
    ]) == 1
    error_message = "web admits ICMP echo requests (type 8, code 0) from the VPC."
  }

  assert {
    condition     = length([for r in values(output.rules) : r if r.is_egress && r.group == run.creates_one_rule_per_entry.security_group_ids["db"]]) == 0
    error_message = "db has no egress at all (strict egress)."
  }
}

run "refuses_a_reversed_port_range" {
  command = plan

  variables {
    vpc_id = run.vpc.vpc_id
    ingress_rules = {
      reversed = { group = "web", ip_protocol = "tcp", from_port = 444, to_port = 443, cidr_ipv4 = "10.0.0.0/16" }
    }
  }

  expect_failures = [var.ingress_rules]
}
