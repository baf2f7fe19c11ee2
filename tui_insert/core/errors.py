"""Errors a user can cause and mend: each carries a one-line message for the terminal."""


class UserError(Exception):
    """A user's mistake (bad flag, bad file, bad database): exit code 2, nothing written."""

    exit_code = 2


class InputError(UserError):
    """An input file that cannot be read or parsed as a whole."""


class DatabaseError(UserError):
    """A database file that is not SQLite, or holds a table with other columns."""


class StoreError(Exception):
    """A database that failed or changed under a run or a reset (an I/O error, a file deleted
    or replaced): exit code 1, with a message naming it. What was committed stays."""

    exit_code = 1


class StoreChanged(StoreError):
    """A database file that is no longer the one being written: deleted, moved or replaced."""


class ResetIncomplete(StoreError):
    """A reset that emptied some databases and then failed (or was interrupted: exit code
    130); running it again completes it."""

    def __init__(self, message: str, *, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code
