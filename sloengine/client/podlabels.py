"""The pod's own labels, from a Kubernetes downward API file, re-read when it changes.

    volumes: [{name: podinfo, downwardAPI: {items: [{path: labels,
               fieldRef: {fieldPath: metadata.labels}}]}}]

The kubelet writes one `key="value"` line per label (values quoted and escaped like Go
strings) and swaps the file atomically when a label changes, e.g. when Argo Rollouts moves
a promoted pod from its canaryMetadata to its stableMetadata labels. So the sidecar asks
`current()` on each flush and the file is re-read only when its stat changes: a relabelled
pod reports its new variant and revision without a restart.

A missing or unreadable file keeps the last good values (the configured defaults at start).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from sloengine.conventions import REVISION_PATTERN

__all__ = ["PodIdentity", "PodLabels", "parse_labels", "parse_variant_map"]

_LINE = re.compile(r'^([^=\s]+)=("(?:[^"\\]|\\.)*")\s*$')


def parse_labels(text: str) -> dict[str, str]:
    """`key="value"` lines (downward API format) into a dict; other lines are skipped."""
    labels: dict[str, str] = {}
    for line in text.splitlines():
        match = _LINE.match(line.strip())
        if match is None:
            continue
        try:
            labels[match.group(1)] = str(json.loads(match.group(2)))
        except ValueError:
            continue
    return labels


def parse_variant_map(text: str) -> dict[str, str]:
    """`label-value=variant,...` (e.g. `gateway-primary=primary,gateway=canary`)."""
    out: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        value, sep, variant = item.partition("=")
        if not sep or not value.strip() or not variant.strip():
            raise ValueError(f"expected LABEL_VALUE=VARIANT, got {item!r}")
        out[value.strip()] = variant.strip()
    return out


@dataclass(frozen=True)
class PodIdentity:
    variant: str
    revision: str


class PodLabels:
    """The current variant and revision of this pod, from its labels file."""

    def __init__(
        self,
        path: Path | None,
        *,
        default_variant: str,
        default_revision: str = "",
        variant_label: str = "variant",
        variant_map: Mapping[str, str] | None = None,
        revision_label: str = "",
        allowed_variants: tuple[str, ...] = (),
        stat: Callable[[Path], os.stat_result] = os.stat,
    ) -> None:
        self.path = path
        self.variant_label = variant_label
        self.variant_map = dict(variant_map or {})
        self.revision_label = revision_label
        self.allowed_variants = allowed_variants
        self._stat = stat
        self._seen: tuple[int, int, int] | None = None
        self._default_revision = default_revision
        self._identity = PodIdentity(default_variant, default_revision)
        self.reloads = 0
        self.current()

    def _identity_from(self, labels: Mapping[str, str]) -> PodIdentity:
        variant = self._identity.variant
        raw = labels.get(self.variant_label)
        if raw is not None:
            mapped = self.variant_map.get(raw, raw)
            if not self.allowed_variants or mapped in self.allowed_variants:
                variant = mapped
        revision = self._default_revision
        raw_revision = labels.get(self.revision_label) if self.revision_label else None
        if raw_revision and re.fullmatch(REVISION_PATTERN, raw_revision):
            revision = raw_revision
        return PodIdentity(variant, revision)

    def current(self) -> PodIdentity:
        """The identity now; re-reads the file only when its stat changed."""
        if self.path is None:
            return self._identity
        try:
            st = self._stat(self.path)
            seen = (st.st_ino, st.st_mtime_ns, st.st_size)
            if seen != self._seen:
                labels = parse_labels(self.path.read_text())
                self._seen = seen
                self._identity = self._identity_from(labels)
                self.reloads += 1
        except (OSError, ValueError):
            pass  # keep the last good identity; the kubelet may be swapping the file
        return self._identity
