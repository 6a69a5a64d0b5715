"""Stage 3: one desired-state model per cloud, built from the neutral rules.

Emission (Terraform), live apply and drift all start from the same desired state, so they cannot disagree.
"""
