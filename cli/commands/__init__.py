"""Command modules; each defines `register(app)` and imports heavy modules only inside its commands."""
