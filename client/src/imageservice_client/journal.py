"""The upload journal: a line of JSON per file done (path, size, mtime, sha256, image id),
appended and flushed to disk as each file is stored, so that a run stopped anywhere (a
crash, Ctrl-C, kill -9, a lost network) is taken up again by the same command.

A file is done when its path, size and modification time are as the journal has them. A
file stored whose line was not written yet (killed in between) is sent again, with
``dedupe``: the service answers the image it already has, and nothing is stored twice. A
line cut short by a kill is ignored.
"""

import json
import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

DEFAULT_NAME = ".imgsvc-journal"


@dataclass(frozen=True)
class Entry:
    path: str
    size: int
    mtime_ns: int
    sha256: str
    image_id: str


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[str, Entry] = {}
        self._lock = threading.Lock()
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        for line in text.splitlines():
            try:
                entry = Entry(**json.loads(line))
            except (ValueError, TypeError):
                continue  # a line cut short by a kill
            self.entries[entry.path] = entry
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("a", encoding="utf-8")
        if text and not text.endswith("\n"):
            self._file.write("\n")  # after a line cut short, the next one on a line of its own

    def done(self, path: Path, stat: os.stat_result) -> Entry | None:
        """The entry of the file at ``path`` if it is done and unchanged since."""
        entry = self.entries.get(str(path))
        if entry and entry.size == stat.st_size and entry.mtime_ns == stat.st_mtime_ns:
            return entry
        return None

    def record(self, entry: Entry) -> None:
        with self._lock:
            self.entries[entry.path] = entry
            self._file.write(json.dumps(asdict(entry)) + "\n")
            self._file.flush()
            os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()
