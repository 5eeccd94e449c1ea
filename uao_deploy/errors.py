"""The one error type for problems a user can fix (bad input, bad files, missing hardware)."""


class UaoError(Exception):
    """A user-facing error: the CLI prints its message and exits with status 1, without a traceback."""
