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


class StoreUnavailable(StoreError):
    """A store that failed in a way that may pass: a server down, restarting or out of reach, a
    connection dropped, a transaction the server aborted to resolve a conflict, a full disk.
    The work in hand is rolled back and tried again for as long as --retry-for allows
    (`waiting.Outage`); only then is it a failure. `reason` is short ("server unreachable"),
    `detail` what the server or the system said."""

    def __init__(self, database: str, reason: str, detail: str = "") -> None:
        super().__init__(f"{database}: {reason}" + (f" ({detail})" if detail else ""))
        self.database = database
        self.reason = reason
        self.detail = detail


class StoreBusy(StoreError):
    """Another session held a lock that a transaction needed midway (not the write lock,
    which is waited for before the transaction goes on): the transaction is rolled back and
    done again once it is free, for as long as that takes — contention is never a failure, and
    --retry-for does not bound it."""

    def __init__(self, database: str, reason: str) -> None:
        super().__init__(f"{database}: {reason}")
        self.database = database
        self.reason = reason


class CommitInDoubt(StoreUnavailable):
    """A commit that was sent, and whose answer was lost with the connection: it may have
    been stored or not. The writer finds out which (`Writer.fate`), never by looking at rows."""


class StoreChanged(StoreError):
    """A database file that is no longer the one being written: deleted, moved or replaced."""


class ResetIncomplete(StoreError):
    """A reset that emptied some databases and then failed (or was interrupted: exit code
    130); running it again completes it."""

    def __init__(self, message: str, *, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code
