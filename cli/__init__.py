"""metazoo's command line (installed as `metazoo_cli`; console script `metazoo`)."""
