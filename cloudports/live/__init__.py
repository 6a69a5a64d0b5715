"""Stage 4b: live state — read what a cloud has, diff it with the desired state, apply, report drift."""
