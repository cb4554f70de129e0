"""How ``imgsvc upload`` tells what it does: a progress bar on a terminal (files, bytes,
rate, ETA) with the files worth a look printed above it, or a plain line per file when
the output goes to a file or a pipe (a log, cron, a script)."""

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)


def shown(path: Path) -> str:
    """A path as the person typed it: relative to the current folder when under it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


@dataclass(frozen=True)
class Outcome:
    kind: str  # stored, existing, journal, refused, failed, cancelled
    path: Path
    size: int = 0
    image_id: str = ""
    code: str = ""
    detail: str = ""

    def line(self) -> str:
        path = shown(self.path)
        match self.kind:
            case "stored":
                return f"stored    {path} -> {self.image_id}"
            case "existing":
                return f"existing  {path} -> {self.image_id} (already stored; labels applied)"
            case "journal":
                return f"done      {path} -> {self.image_id} (in the journal)"
            case _:
                return f"{self.kind:<9} {path}: {self.code}: {self.detail}"


class PlainReport:
    """A line per file on stdout; notes on stderr."""

    def __init__(self, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> None:
        self.out, self.err = out, err

    def start(self, files: int, size: int) -> None:
        self.out.write(f"Uploading {files} files ({size:,} bytes).\n")
        self.out.flush()

    def done(self, outcome: Outcome) -> None:
        self.out.write(outcome.line() + "\n")
        self.out.flush()

    def note(self, text: str) -> None:
        self.err.write(text + "\n")
        self.err.flush()

    def stop(self) -> None:
        pass


class BarReport:
    """A rich progress bar on the terminal (stderr); refused files and images already
    stored are printed above it, as they come."""

    def __init__(self, err: TextIO = sys.stderr) -> None:
        self.console = Console(file=err)
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[files]} files"),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )
        self.task = None
        self.files = 0
        self.total_files = 0

    def start(self, files: int, size: int) -> None:
        self.total_files = files
        self.progress.start()
        self.task = self.progress.add_task("upload", total=size, files=f"0/{files}")

    def done(self, outcome: Outcome) -> None:
        self.files += 1
        if outcome.kind not in ("stored", "journal"):
            self.progress.console.print(outcome.line(), markup=False, highlight=False)
        self.progress.update(
            self.task, advance=outcome.size, files=f"{self.files}/{self.total_files}"
        )

    def note(self, text: str) -> None:
        self.progress.console.print(text, markup=False, highlight=False)

    def stop(self) -> None:
        self.progress.stop()


def report_for(stream: TextIO) -> PlainReport | BarReport:
    return BarReport(sys.stderr) if stream.isatty() else PlainReport()
