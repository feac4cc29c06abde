"""Reading the next chunk of particles while the current one is computed.

One reader thread: while the caller backprojects chunk i (Julia and NumPy release the GIL),
the thread reads chunk i+1 from the stacks (positional reads into the chunk's array, see
:class:`.mrc.StackReader`), from the moment the caller calls :meth:`Prefetcher.read_ahead`.
At most two chunks of images exist at once. Julia is only ever called from the caller's thread.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterator, Sequence, Tuple

import numpy as np


def chunk_rows(n: int, chunk_size: int) -> list:
    """Row indices ``[0, c), [c, 2c), …`` covering 0 … n−1, as int64 arrays."""
    return [np.arange(start, min(n, start + chunk_size)) for start in range(0, n, chunk_size)]


class Prefetcher:
    """Iterate over ``(rows, read(rows))`` for each chunk of ``chunks``; the next chunk is read
    in the reader thread from :meth:`read_ahead` on (else when it is asked for).

    ``read`` runs in the reader thread: it must not call Julia.
    ``read_seconds``: time spent reading (in the reader thread); ``wait_seconds``: time the
    caller waited for a chunk (reading not hidden behind computing).
    """

    def __init__(self, read: Callable[[np.ndarray], np.ndarray], chunks: Sequence[np.ndarray]):
        self._read = read
        self._chunks = list(chunks)
        self.read_seconds = 0.0
        self.wait_seconds = 0.0
        self._pool = self._pending = None
        self._next = 0

    def _timed_read(self, rows: np.ndarray) -> np.ndarray:
        t0 = time.perf_counter()
        images = self._read(rows)
        self.read_seconds += time.perf_counter() - t0
        return images

    def read_ahead(self) -> None:
        """Start reading the next chunk now (a no-op if it is started or there is none). The job
        calls this once a chunk's spectra are made, so that the reads overlap the
        backprojection rather than the FFT stage (cold reads slowed that stage by up to 2×)."""
        if self._pool is not None and self._pending is None and self._next < len(self._chunks):
            self._pending = self._pool.submit(self._timed_read, self._chunks[self._next])
            self._next += 1

    def __iter__(self) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
        if not self._chunks:
            return
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="recovar-jl-read") as pool:
            self._pool, self._pending, self._next = pool, None, 0
            try:
                for rows in self._chunks:
                    self.read_ahead()       # no-op when the caller already started this read
                    t0 = time.perf_counter()
                    images = self._pending.result()
                    self.wait_seconds += time.perf_counter() - t0
                    self._pending = None
                    yield rows, images
                    del images
            finally:
                self._pool = self._pending = None
