"""Child processes of the demo: started with their output logged, found ready by a line they
print, and all stopped at the end (also on Ctrl-C or an error), newest first."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path


class StartError(RuntimeError):
    """A child did not become ready; the message names it and ends with its last log lines."""


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[str]
    log_path: Path
    lines: list[str] = field(default_factory=list)
    _cond: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, pattern: str, timeout_s: float) -> re.Match[str]:
        """Block until a line of the child's output matches `pattern`; return the match."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout_s
        seen = 0
        with self._cond:
            while True:
                for line in self.lines[seen:]:
                    if m := regex.search(line):
                        return m
                seen = len(self.lines)
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self.proc.poll() is not None and seen == len(self.lines)):
                    tail = "".join(self.lines[-15:])
                    state = "exited" if self.proc.poll() is not None else "timed out"
                    raise StartError(f"{self.name} {state} before printing /{pattern}/:\n{tail}")
                self._cond.wait(min(remaining, 0.2))

    def output(self) -> str:
        with self._cond:
            return "".join(self.lines)


class ProcessGroup:
    """Owns every child the demo starts; `stop_all()` is idempotent."""

    def __init__(self, log_dir: Path, env: dict[str, str] | None = None) -> None:
        self.log_dir = log_dir
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.env = {**os.environ, **(env or {})}
        self.children: list[Child] = []

    def start(self, name: str, argv: Sequence[str], env: dict[str, str] | None = None) -> Child:
        log_path = self.log_dir / f"{name}.log"
        proc = subprocess.Popen(
            list(argv),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            env={**self.env, **(env or {})},
            start_new_session=True,  # our Ctrl-C handling stops it, not the terminal's SIGINT
        )
        child = Child(name, proc, log_path)
        threading.Thread(target=self._pump, args=(child,), daemon=True).start()
        self.children.append(child)
        return child

    @staticmethod
    def _pump(child: Child) -> None:
        assert child.proc.stdout is not None
        with child.log_path.open("w") as log:
            for line in child.proc.stdout:
                log.write(line)
                log.flush()
                with child._cond:
                    child.lines.append(line)
                    child._cond.notify_all()
        with child._cond:
            child._cond.notify_all()

    def stop(self, child: Child, grace_s: float = 8.0) -> int | None:
        if child.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.proc.pid, signal.SIGTERM)
            try:
                child.proc.wait(grace_s)
            except subprocess.TimeoutExpired:
                os.killpg(child.proc.pid, signal.SIGKILL)
                child.proc.wait()
        return child.proc.returncode

    def stop_all(self) -> None:
        for child in reversed(self.children):
            try:
                self.stop(child)
            except Exception as exc:  # stopping the rest matters more than this one
                print(f"demo: could not stop {child.name}: {exc}", file=sys.stderr)
        self.children.clear()
