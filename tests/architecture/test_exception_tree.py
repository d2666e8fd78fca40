"""All exceptions in one tree: `sloengine.errors` defines every error the engine raises.

Read from the source with `ast`, like the floors check: an exception class defined anywhere
else in `sloengine` must be private control flow that never leaves its module (listed below
with where it is caught), and even those derive from `SloEngineError`.
"""

from __future__ import annotations

import ast
import builtins
import importlib
from collections.abc import Iterator
from pathlib import Path

from sloengine import errors

REPO = Path(__file__).resolve().parents[2]
ROOT = "SloEngineError"

# (file, class): private control flow, caught inside its own module or package.
PRIVATE = {
    ("sloengine/specs/_fields.py", "AlreadyReported"): "Collector.attempt drops the object",
    ("sloengine/hooks/_runner.py", "_AttemptError"): "the retry loop records the attempt",
    ("sloengine/ingest/_wire.py", "UnsupportedEncoding"): (
        "WireDecoder catches it and leaves the batch to the protobuf path"
    ),
}
# Not in the tree yet: (file, class) -> why. Like the floors' DEBT, a paid entry must leave.
PENDING: dict[tuple[str, str], str] = {}

_BUILTIN_EXCEPTIONS = {
    name
    for name, value in vars(builtins).items()
    if isinstance(value, type) and issubclass(value, BaseException)
}
_TREE = {
    name
    for name, value in vars(errors).items()
    if isinstance(value, type) and issubclass(value, BaseException)
}


def _base_names(node: ast.ClassDef) -> list[str]:
    names = []
    for base in node.bases:
        if isinstance(base, ast.Name):
            names.append(base.id)
        elif isinstance(base, ast.Attribute):  # e.g. `f.AlreadyReported`
            names.append(base.attr)
    return names


def _exception_classes() -> Iterator[tuple[str, str, list[str]]]:
    """(file, class, base names) of every class in sloengine that derives from an exception."""
    for path in sorted((REPO / "sloengine").rglob("*.py")):
        if "proto" in path.relative_to(REPO).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.ClassDef):
                continue
            bases = _base_names(node)
            if any(b in _BUILTIN_EXCEPTIONS or b in _TREE or b.endswith("Error") for b in bases):
                yield str(path.relative_to(REPO)), node.name, bases


def test_every_error_of_the_engine_is_in_the_tree() -> None:
    outside = sorted(
        f"{file}: {name}"
        for file, name, _ in _exception_classes()
        if file != "sloengine/errors.py" and (file, name) not in PRIVATE | PENDING.keys()
    )
    assert not outside, "define these in sloengine/errors.py (the tree):\n" + "\n".join(outside)


def test_the_tree_has_one_root() -> None:
    for name in _TREE:
        assert issubclass(getattr(errors, name), errors.SloEngineError), name
    for (file, name), _ in PRIVATE.items():
        module = importlib.import_module(file.removesuffix(".py").replace("/", "."))
        assert issubclass(getattr(module, name), errors.SloEngineError), f"{file}: {name}"


def test_the_docstring_draws_every_class_of_the_tree() -> None:
    drawn = errors.__doc__ or ""
    assert not sorted(n for n in _TREE if n != ROOT and f"── {n}" not in drawn)


def test_every_pending_entry_still_occurs() -> None:
    found = {(file, name) for file, name, _ in _exception_classes()}
    assert not sorted(set(PENDING) - found), "these left: remove them from PENDING"


def test_errors_that_joined_the_tree_keep_their_builtin_bases() -> None:
    # `except OSError` / `except ValueError` written before the move still catch them.
    assert issubclass(errors.WalFailedError, OSError)
    assert issubclass(errors.JournalError, OSError)
    for name in ("PayloadError", "SignatureError", "UIRequestError", "ReplayError"):
        assert issubclass(getattr(errors, name), ValueError), name
    assert issubclass(errors.CanaryNotFoundError, LookupError)


def test_old_import_paths_still_work() -> None:
    from sloengine.audit import AuditLogError
    from sloengine.canary.errors import CanaryNotFoundError, CanaryRequestError
    from sloengine.cli.override import OverrideError
    from sloengine.engine.pull import PrometheusError, PrometheusUnavailable
    from sloengine.hooks import SignatureError
    from sloengine.pipelines import PayloadError
    from sloengine.pipelines._journal import JournalError
    from sloengine.replay.errors import ReplayError
    from sloengine.store import StoreCorruptError
    from sloengine.store._datadir import DataDirLockedError
    from sloengine.store._wal import WalFailedError
    from sloengine.ui import UIRequestError

    moved = [AuditLogError, CanaryNotFoundError, CanaryRequestError, SignatureError,
             PayloadError, JournalError, PrometheusError, PrometheusUnavailable, ReplayError,
             StoreCorruptError, DataDirLockedError, WalFailedError, UIRequestError,
             OverrideError]  # fmt: skip
    assert all(getattr(errors, cls.__name__) is cls for cls in moved)
