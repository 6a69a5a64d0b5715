# terraform test, plan only: the arguments the module hands azurerm, and the inputs it refuses before any call.
# The test suite runs it with a schema-only azurerm stand-in (tools/azurerm_schema); any azurerm 4.x works too.

provider "azurerm" {
  features {}
}

variables {
  resource_group_name = "rg-tftest"
  location            = "westeurope"
  nsg_name            = "tftest-nsg"

  application_security_groups = {
    web = { name = "tftest-web" }
    sql = { name = "tftest-sql" }
  }

  security_rules = {
    "web-https" = {
      priority                                = 100
      direction                               = "Inbound"
      access                                  = "Allow"
      protocol                                = "Tcp"
      destination_port_ranges                 = ["443"]
      source_address_prefixes                 = ["Internet"]
      destination_application_security_groups = ["web"]
      description                             = "HTTPS from the internet"
    }
    "sql-from-admin" = {
      priority                                = 110
      direction                               = "Inbound"
      access                                  = "Allow"
      protocol                                = "Tcp"
      destination_port_ranges                 = ["49152-65535", "1433"]
      source_address_prefixes                 = ["10.99.0.0/24", "10.98.0.0/24"]
      destination_application_security_groups = ["sql"]
    }
  }
}

run "shapes_arguments_like_azure_stores_them" {
  command = plan

  assert {
    condition     = azurerm_network_security_rule.this["web-https"].destination_port_range == "443" && azurerm_network_security_rule.this["web-https"].destination_port_ranges == null
    error_message = "One port goes to destination_port_range (Azure rewrites a one-element list into it)."
  }

  assert {
    condition     = azurerm_network_security_rule.this["web-https"].source_address_prefix == "Internet" && azurerm_network_security_rule.this["web-https"].source_address_prefixes == null
    error_message = "A service tag goes to source_address_prefix, the only field that takes one."
  }

  assert {
    condition     = azurerm_network_security_rule.this["sql-from-admin"].destination_port_ranges == toset(["1433", "49152-65535"]) && azurerm_network_security_rule.this["sql-from-admin"].destination_port_range == null
    error_message = "Several ports go to destination_port_ranges."
  }

  assert {
    condition     = azurerm_network_security_rule.this["sql-from-admin"].source_address_prefixes == toset(["10.98.0.0/24", "10.99.0.0/24"]) && azurerm_network_security_rule.this["sql-from-admin"].description == null
    error_message = "Several prefixes go to source_address_prefixes; an empty description is sent as none."
  }

  assert {
    condition     = azurerm_network_security_rule.this["web-https"].source_application_security_group_ids == null && azurerm_network_security_rule.this["web-https"].destination_address_prefix == null
    error_message = "Each side has exactly one form: unused fields stay null."
  }

  assert {
    condition     = { for k, a in azurerm_application_security_group.this : k => a.name } == { web = "tftest-web", sql = "tftest-sql" }
    error_message = "One application security group per role, keyed by role."
  }

  assert {
    condition     = length(azurerm_subnet_network_security_group_association.this) == 0
    error_message = "No subnet associations unless subnet_ids are given."
  }
}

run "refuses_a_priority_outside_100_4096" {
  command = plan

  variables {
    security_rules = {
      "too-urgent" = {
        priority                = 99
        direction               = "Inbound"
        access                  = "Allow"
        protocol                = "Tcp"
        destination_port_ranges = ["22"]
        source_address_prefixes = ["10.0.0.0/8"]
      }
    }
  }

  expect_failures = [var.security_rules]
}

run "refuses_a_lowercase_protocol" {
  command = plan

  variables {
    security_rules = {
      "lowercase" = {
        priority                     = 200
        direction                    = "Inbound"
        access                       = "Allow"
        protocol                     = "tcp"
        destination_port_ranges      = ["22"]
        source_address_prefixes      = ["10.0.0.0/8"]
        destination_address_prefixes = ["10.1.0.0/16"]
      }
    }
  }

  expect_failures = [var.security_rules]
}

run "refuses_an_undeclared_application_security_group" {
  command = plan

  variables {
    security_rules = {
      "to-nowhere" = {
        priority                                = 300
        direction                               = "Inbound"
        access                                  = "Allow"
        protocol                                = "Tcp"
        destination_port_ranges                 = ["80"]
        source_address_prefixes                 = ["10.0.0.0/8"]
        destination_application_security_groups = ["app"]
      }
    }
  }

  expect_failures = [azurerm_network_security_rule.this["to-nowhere"]]
}

run "uses_application_security_groups_created_elsewhere" {
  command = plan

  variables {
    application_security_groups = {}
    application_security_group_ids = {
      web = "/subscriptions/0/resourceGroups/rg/providers/Microsoft.Network/applicationSecurityGroups/shared-web"
      sql = "/subscriptions/0/resourceGroups/rg/providers/Microsoft.Network/applicationSecurityGroups/shared-sql"
    }
  }

  assert {
    condition     = length(azurerm_application_security_group.this) == 0
    error_message = "ASGs given by ID (shared by several NSGs) are not created here."
  }

  assert {
    condition     = one(azurerm_network_security_rule.this["web-https"].destination_application_security_group_ids) == "/subscriptions/0/resourceGroups/rg/providers/Microsoft.Network/applicationSecurityGroups/shared-web"
    error_message = "A rule names an ASG given by ID through that ID."
  }
}
