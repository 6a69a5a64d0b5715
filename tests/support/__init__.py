"""Test support code: the Terraform CLI offline (terraform_env) and live-backend helpers (aws_live, azure_live)."""
