"""Test support code: the Terraform CLI offline (terraform_env) and a patched moto server (moto_server)."""
