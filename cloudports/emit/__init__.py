"""Stage 4a: write Terraform root modules from a desired state (HCL text, deterministic, `terraform fmt` clean)."""
