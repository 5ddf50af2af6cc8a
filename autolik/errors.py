"""Errors autolik raises on purpose: each says what was expected, what arrived, and the fix.

``DataError`` is bad data (the CLI exits 1); ``UsageError`` is a bad call or flag (exit 2).
Both carry a one-line message; the CLI prints it without a traceback.
"""


class AutolikError(Exception):
    """Base class of the errors autolik raises deliberately."""

    exit_code = 1


class DataError(AutolikError, ValueError):
    """The data (file, array, model directory) cannot be used as given. CLI exit status 1."""

    exit_code = 1


class UsageError(AutolikError, ValueError):
    """The call itself is wrong (unknown option value, incompatible flags). CLI exit status 2."""

    exit_code = 2
