"""Faults the tests cause for real: the database taken away, a disk that fills up."""

import os
import sqlite3
import subprocess
from pathlib import Path

import pytest
from django.db import connection, connections

from tests.servers import TcpProxy


def on_postgresql() -> bool:
    return connection.vendor == "postgresql"


class DatabaseOutage:
    """Takes the database away from new connections and brings it back, for real.

    PostgreSQL is shared, so it is not stopped: connections go through a TCP proxy on
    127.0.0.1, which is stopped (refused connections, cut sessions) and started again, or
    paused (it accepts and forwards nothing). SQLite is a file: the service is switched to
    a copy of the test database in a folder of its own, and the folder is moved away and
    back (a new connection cannot open the file). ``folder`` is where the copy goes.

    Connections already open stay as they were (on PostgreSQL, the proxy cuts them when it
    stops): the service's threads open their own after the switch.
    """

    def __init__(self, folder: Path) -> None:
        self.settings_dict = connection.settings_dict  # shared by every thread's connection
        self.saved = dict(self.settings_dict)
        connections.close_all()
        if on_postgresql():
            target = (self.saved["HOST"] or "127.0.0.1", int(self.saved["PORT"] or 5432))
            self.proxy = TcpProxy(target).start()
            self.settings_dict.update(HOST="127.0.0.1", PORT=str(self.proxy.port))
        else:
            self.proxy = None
            self.folder = folder
            folder.mkdir(exist_ok=True)
            copy = self.folder / "db.sqlite3"
            source, into = sqlite3.connect(self.saved["NAME"]), sqlite3.connect(copy)
            try:
                source.backup(into)  # the tables, as the test database has them
            finally:
                source.close()
                into.close()
            self.settings_dict["NAME"] = str(copy)

    def cut(self) -> None:
        if self.proxy:
            self.proxy.stop()
        else:
            self.folder.rename(self.folder.with_name("moved-away"))

    def restore(self) -> None:
        if self.proxy:
            self.proxy.start()
        else:
            self.folder.with_name("moved-away").rename(self.folder)

    def freeze(self) -> None:
        """PostgreSQL: a server that accepts connections and answers nothing."""
        self.proxy.pause()

    def thaw(self) -> None:
        self.proxy.resume()

    def close(self) -> None:
        connections.close_all()
        self.settings_dict.clear()
        self.settings_dict.update(self.saved)
        if self.proxy:
            self.proxy.stop()


class TinyDisk:
    """A filesystem of ``size`` bytes (tmpfs, mounted for the test), to fill up for real:
    writes past its end fail with ENOSPC, as on a full disk. ``fill`` leaves ``room`` bytes
    free; ``empty`` frees the space again."""

    def __init__(self, path: Path, size: int) -> None:
        self.path = path
        path.mkdir()
        mount = ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)]
        result = subprocess.run(mount, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            pytest.skip(f"mounting a tmpfs needs root (CI runs as root): {result.stderr}")
        self.filler = path / "filler"

    def free(self) -> int:
        return os.statvfs(self.path).f_bavail * os.statvfs(self.path).f_frsize

    def fill(self, room: int = 0) -> None:
        with open(self.filler, "ab") as filler:
            while (left := self.free() - room) > 0:
                try:
                    filler.write(b"\0" * min(left, 1 << 20))
                    filler.flush()
                except OSError:  # ENOSPC: full
                    break

    def empty(self) -> None:
        self.filler.unlink(missing_ok=True)

    def unmount(self) -> None:
        subprocess.run(["umount", "--lazy", str(self.path)], check=False)
