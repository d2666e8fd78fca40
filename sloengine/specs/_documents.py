"""Find spec files and read their YAML documents, turning every failure into a SpecError.

A file holding several documents (`---`) prefixes field paths with `documents[i]` (0-based,
in file order) so that an error names the document as well as the field.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode

from sloengine.errors import SpecError
from sloengine.specs._fields import At, Collector

SPEC_SUFFIXES = (".yml", ".yaml")
# A spec is a few kilobytes; refusing huge files keeps a stray log or dump from eating memory.
MAX_FILE_BYTES = 10 * 1024 * 1024


@dataclass(frozen=True)
class Document:
    """One parsed YAML document and where it sits."""

    at: At  # file and path prefix ("" or "documents[i]")
    body: Any


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys (PyYAML keeps the last one silently)."""


def _construct_mapping(loader: _StrictLoader, node: MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        try:
            duplicate = key in seen
            seen.add(key)
        except TypeError:
            continue  # unhashable key: construct_mapping reports it
        if duplicate:
            raise ConstructorError(
                "while constructing a mapping",
                node.start_mark,
                f"found duplicate key {key!r}",
                key_node.start_mark,
            )
    loader.flatten_mapping(node)
    return loader.construct_mapping(node, deep=True)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def spec_files(paths: Sequence[str | Path], collector: Collector) -> Iterator[Path]:
    """Expand files and directories (recursively, `*.yml`/`*.yaml`, sorted), in given order.

    A generator, so that errors about a path are recorded in argument order.
    """
    seen: set[Path] = set()
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            children = sorted(
                p for p in path.rglob("*") if p.suffix in SPEC_SUFFIXES and p.is_file()
            )
            if not children:
                collector.add(SpecError(str(path), "", "directory holds no *.yml or *.yaml files"))
        elif path.exists():
            children = [path]
        else:
            collector.add(SpecError(str(path), "", "no such file or directory"))
            children = []
        for child in children:
            key = child.resolve()
            if key not in seen:
                seen.add(key)
                yield child


def _yaml_error_reason(exc: yaml.YAMLError, text: str) -> str:
    if isinstance(exc, yaml.reader.ReaderError):  # a bad character: it has a position, no mark
        before = text[: exc.position]
        line, column = before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1
        char = exc.character if isinstance(exc.character, int) else ord(exc.character)
        return f"line {line} column {column}: invalid YAML: {exc.reason} (U+{char:04X})"
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    where = f"line {mark.line + 1} column {mark.column + 1}: " if mark is not None else ""
    return f"{where}invalid YAML: {problem}"


def read_documents(path: Path, collector: Collector) -> list[Document]:
    """Parse every document of one file; an unreadable or invalid file yields one error."""
    file = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        collector.add(SpecError(file, "", f"cannot read: {exc.strerror or exc}"))
        return []
    if len(data) > MAX_FILE_BYTES:
        collector.add(SpecError(file, "", f"file larger than {MAX_FILE_BYTES} bytes"))
        return []
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        collector.add(SpecError(file, "", f"not UTF-8 text (byte {exc.start})"))
        return []
    try:
        bodies = list(yaml.load_all(text, Loader=_StrictLoader))  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        collector.add(SpecError(file, "", _yaml_error_reason(exc, text)))
        return []
    except RecursionError:
        collector.add(SpecError(file, "", "invalid YAML: nested too deeply"))
        return []
    return list(_documents(file, bodies, collector))


def _documents(file: str, bodies: list[Any], collector: Collector) -> Iterator[Document]:
    if all(body is None for body in bodies):
        collector.add(SpecError(file, "", "empty file: no YAML documents"))
        return
    multi = len(bodies) > 1
    for i, body in enumerate(bodies):
        if body is None:
            continue  # an empty document, e.g. after a trailing `---`
        at = At(file, f"documents[{i}]") if multi else At(file)
        yield Document(at, body)
