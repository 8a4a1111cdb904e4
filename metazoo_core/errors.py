"""User-facing errors: each is shown as one line (what, where, how to fix) and a nonzero exit, never a traceback."""


class MetazooError(Exception):
    """A mistake the user can fix (bad input, unknown id, missing weights). Its message is one complete line."""


class UnknownModelError(MetazooError):
    pass


class UnknownStageError(MetazooError):
    pass


class RegistryError(MetazooError):
    pass


class WeightsError(MetazooError):
    pass


class InputError(MetazooError):
    pass


def suggest(name: str, choices: list[str], n: int = 3) -> str:
    """' (did you mean a, b?)' for the closest choices to `name`, or '' when none is close."""
    import difflib

    close = difflib.get_close_matches(name, choices, n=n, cutoff=0.5)
    return f" (did you mean {', '.join(close)}?)" if close else ""
