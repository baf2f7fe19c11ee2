"""Errors a user can cause and mend: each carries a one-line message for the terminal."""


class UserError(Exception):
    """A user's mistake (bad flag, bad file, bad database): exit code 2, nothing written."""

    exit_code = 2


class InputError(UserError):
    """An input file that cannot be read or parsed as a whole."""


class DatabaseError(UserError):
    """A database file that is not SQLite, or holds a table with other columns."""
