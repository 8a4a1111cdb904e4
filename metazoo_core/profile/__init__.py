"""Model profiles: metamer recognisability, adversarial robustness, OOD scores and per-stage readouts side by side,
one HTML page per model, a comparison page with a sortable leaderboard, and the same numbers as JSON and CSV."""
from .build import ProfileSettings, build_profiles

__all__ = ["ProfileSettings", "build_profiles"]
