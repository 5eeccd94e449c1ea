"""The one error type for problems a user can fix (bad input, bad files, missing hardware)."""


class UaoError(Exception):
    """A user-facing error: the CLI prints its message and exits with status 1, without a traceback."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type name when empty), for one-line errors."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def one_line(exc: BaseException) -> str:
    """An error as one line for a report: a UaoError's first line as it is, any other prefixed with
    its type (an unexpected failure should say what kind it was)."""
    return first_line(exc) if isinstance(exc, UaoError) else f"{type(exc).__name__}: {first_line(exc)}"
