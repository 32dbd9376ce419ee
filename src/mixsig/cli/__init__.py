"""The `mixsig` command-line interface."""
