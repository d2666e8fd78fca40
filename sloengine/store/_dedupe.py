"""Which (producer_id, sequence) pairs were accepted: bounded, and saved with snapshots.

Per producer: the highest accepted sequence `high` and the set of accepted sequences in
`(high - window, high]`. A sequence in that set, or at or below `high - window`, is a
duplicate: a retry is recognised as long as fewer than `window` newer batches of the same
producer were accepted since (clients keep far fewer unacknowledged batches). Producers must
therefore never reuse a sequence: a restarted producer either takes a new producer_id or
continues above its previous sequences (e.g. starts at the boot time in microseconds).
At most `max_producers` producers are remembered (least recently active forgotten).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

DEFAULT_WINDOW = 4096
DEFAULT_MAX_PRODUCERS = 65536


class _Producer:
    __slots__ = ("high", "recent")

    def __init__(self, high: int, recent: set[int]) -> None:
        self.high = high
        self.recent = recent


class DedupeState:
    def __init__(
        self, *, window: int = DEFAULT_WINDOW, max_producers: int = DEFAULT_MAX_PRODUCERS
    ) -> None:
        self.window = window
        self.max_producers = max_producers
        self._producers: OrderedDict[str, _Producer] = OrderedDict()

    def seen(self, producer_id: str, sequence: int) -> bool:
        p = self._producers.get(producer_id)
        if p is None:
            return False
        return sequence in p.recent or sequence <= p.high - self.window

    def highest(self, producer_id: str) -> int | None:
        """The highest accepted sequence of a producer (None: not remembered)."""
        p = self._producers.get(producer_id)
        return None if p is None else p.high

    def record(self, producer_id: str, sequence: int) -> None:
        p = self._producers.get(producer_id)
        if p is None:
            p = self._producers[producer_id] = _Producer(sequence, set())
            if len(self._producers) > self.max_producers:
                self._producers.popitem(last=False)
        else:
            self._producers.move_to_end(producer_id)
        p.recent.add(sequence)
        if sequence > p.high:
            p.high = sequence
            if len(p.recent) > 2 * self.window:
                floor = p.high - self.window
                p.recent = {s for s in p.recent if s > floor}

    def to_json(self) -> dict[str, Any]:
        return {
            "window": self.window,
            "producers": {
                pid: [p.high, sorted(s for s in p.recent if s > p.high - self.window)]
                for pid, p in self._producers.items()
            },
        }

    @classmethod
    def from_json(
        cls, doc: dict[str, Any], *, max_producers: int = DEFAULT_MAX_PRODUCERS
    ) -> DedupeState:
        state = cls(window=int(doc["window"]), max_producers=max_producers)
        for pid, (high, recent) in doc["producers"].items():
            state._producers[pid] = _Producer(int(high), {int(s) for s in recent})
        return state
