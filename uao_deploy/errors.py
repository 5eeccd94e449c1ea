"""The one error type for problems a user can fix (bad input, bad files, missing hardware)."""


class UaoError(Exception):
    """A user-facing error: the CLI prints its message and exits with status 1, without a traceback."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type name when empty), for one-line errors."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
