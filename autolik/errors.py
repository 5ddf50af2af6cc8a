"""Errors autolik raises on purpose: each says what was expected, what arrived, and the fix.

``DataError`` is bad data (the CLI exits 1); ``UsageError`` is a bad call or flag (exit 2).
Both carry a one-line message; the CLI prints it without a traceback. ``DataWarning`` flags
data that was used but is doubtful.
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


class DataWarning(UserWarning):
    """The data was used, but part of it is doubtful (e.g. values outside the model's support).

    The library issues it with :mod:`warnings`; the CLI prints it as one ``warning:`` line on stderr.
    """
