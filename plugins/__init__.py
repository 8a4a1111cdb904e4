"""metazoo's built-in model families, one package per family (installed as `metazoo_plugins`).

Each package registers itself through the `metazoo` entry-point group, exactly as a third-party plugin does.
"""
