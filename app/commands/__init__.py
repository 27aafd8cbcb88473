"""The `reeldrop` command's subcommands, one module each; app/cli.py only parses and dispatches."""
