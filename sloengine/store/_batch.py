"""The store's input: a validated batch in columnar form (`DecodedBatch`).

The store takes only these; turning wire bytes into them (decoding, validation, label
caches) is the ingest service's work (`sloengine.ingest`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

SeriesLabels = tuple[tuple[str, str], ...]

# Column layout of `DecodedBatch.values`, shared with the rings: requests, errors, then one
# column per store latency bound (non-cumulative; requests above the last bound are implied).
REQUESTS = 0
ERRORS = 1
LATENCY0 = 2


@dataclass(frozen=True, eq=False)
class DecodedBatch:
    """A validated batch in columnar form.

    `series[i]` are the sorted labels of block i (empty-valued labels dropped); sample j
    belongs to block `block_of_sample[j]`, ends at `timestamps_unix_ms[j]`, and has the
    counts `values[j] = (requests, errors, latency counts mapped onto the store bounds...)`.

    A producer's batches usually repeat the same series in the same order: a decoder may
    hand the very same `series` tuple object again (the ingest codec's caches do), and
    the store then resolves it to ids in O(1) (`SeriesStore.resolve`, keyed by identity
    and holding the tuple, so equal content is all that correctness needs).
    """

    producer_id: str
    sequence: int
    series: tuple[SeriesLabels, ...]
    block_of_sample: npt.NDArray[np.int64]
    timestamps_unix_ms: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]
    latency_bounds_seconds: tuple[float, ...]

    @property
    def sample_count(self) -> int:
        return int(self.timestamps_unix_ms.shape[0])
