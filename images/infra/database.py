"""The database as a part that can fail: which of its errors are an outage (the client may
retry: 503 ``database_unavailable``), and a cheap check that it answers before costly work.

An outage is a connection lost, refused or timed out (PostgreSQL's ``OperationalError`` and
``InterfaceError``; its server out of disk or connections is one too), or SQLite unable to
use its file right now: locked past the busy timeout, the disk full or read-only, the file
or its folder gone. A wrong query is no outage: PostgreSQL raises ``ProgrammingError`` for
it, SQLite an ``OperationalError`` with the generic SQLITE_ERROR code ("no such table",
a syntax error); both stay a 500 with their traceback.
"""

import os

from django.db import InterfaceError, OperationalError, connection

# SQLite's primary result codes that say the database cannot be used now, not that the
# statement is wrong (https://sqlite.org/rescode.html).
_SQLITE_OUTAGES = {
    5: "SQLITE_BUSY",  # "database is locked" past the busy timeout
    6: "SQLITE_LOCKED",
    7: "SQLITE_NOMEM",
    8: "SQLITE_READONLY",  # the file or its filesystem became read-only
    10: "SQLITE_IOERR",
    13: "SQLITE_FULL",  # "database or disk is full"
    14: "SQLITE_CANTOPEN",  # the file or its folder is gone
    15: "SQLITE_PROTOCOL",
}


def is_outage(exc: BaseException) -> bool:
    if not isinstance(exc, OperationalError | InterfaceError):
        return False
    # Django raises its own error from the driver's, which SQLite's carries a code on.
    code = getattr(exc.__cause__, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in _SQLITE_OUTAGES  # the primary code of an extended one
    return True


def check_reachable() -> None:
    """Raise (an outage) unless the database answers now: one round trip, on a kept
    connection that Django has health-checked, or a new one bounded by the connect timeout.
    Done before costly work whose result must be recorded (decoding an upload, storing its
    file), so an outage costs the client a fast 503, not a decode and a file to remove."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def local_folder() -> str | None:
    """The folder of the SQLite database file (where it needs free space), else None."""
    if connection.vendor != "sqlite":
        return None
    name = str(connection.settings_dict["NAME"])
    if name == ":memory:" or name.startswith("file:"):
        return None
    return os.path.dirname(os.path.abspath(name))
