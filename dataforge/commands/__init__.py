"""Optional subcommands of the dataforge CLI, one module each with register(subparsers)."""
