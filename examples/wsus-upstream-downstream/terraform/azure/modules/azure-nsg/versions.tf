terraform {
  required_version = ">= 1.5"

  required_providers {
    azurerm = {
      source = "hashicorp/azurerm"
      # The range the test suite checks: the module is validated and planned against azurerm 4.73.0's schema
      # (tools/azurerm_schema); 3.x and 5.x are untested.
      version = ">= 4.73, < 5.0"
    }
  }
}
