"""The data directory's guards: one engine at a time (a lock file), and quarantine of damage.

`DataDirLock` holds an exclusive `flock` on `data_dir/LOCK` for the store's lifetime and
writes the holder's pid into it, so a second engine fails at once with a line naming the
holder. The kernel drops a flock when its process dies, so `kill -9` never leaves a stale
lock behind.

`quarantine` moves damaged bytes out of the way (into `data_dir/quarantine/`) instead of
deleting them, so an operator can still inspect or salvage them after a repair.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from sloengine.errors import DataDirLockedError

LOCK_NAME = "LOCK"
QUARANTINE_DIR = "quarantine"


class DataDirLock:
    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise DataDirLockedError(
                f"{self.path.parent}: data directory is in use by another engine "
                f"({holder}); stop it first, or give this one its own --data-dir"
            ) from None
        except OSError:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock; the file stays (harmless)
            self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None


def _read_holder(fd: int) -> str:
    try:
        text = os.pread(fd, 64, 0).decode(errors="replace").strip()
    except OSError:
        text = ""
    return text or "pid unknown"


def quarantine(data_dir: Path, name: str, data: bytes) -> Path:
    """Write `data` to `data_dir/quarantine/<name>.<unix time>` (fsynced); returns its path."""
    folder = data_dir / QUARANTINE_DIR
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.{int(time.time())}"
    n = 0
    while path.exists():
        n += 1
        path = folder / f"{name}.{int(time.time())}.{n}"
    with open(path, "xb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return path
