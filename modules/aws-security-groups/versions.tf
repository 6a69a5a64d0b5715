terraform {
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # The range the test suite runs: 5.100.0 (tests/test_modules.py, the module's terraform tests). The rule
      # resources exist since 4.56, but nothing older than 5.100 or from 6.x is tested.
      version = ">= 5.100, < 6.0"
    }
  }
}
