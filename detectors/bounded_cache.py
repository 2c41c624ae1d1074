"""A least-recently-used cache bounded in bytes, not in entries.

`functools.lru_cache(4096)` bounds the number of entries; with attacker-sized
keys that is no bound on memory (4,096 distinct 1 MB titles).  `ByteLRU`
counts the size of every entry it keeps (`sys.getsizeof` of key and value,
or a `weigh(key, value)` you give it) and evicts the least recently used entries until the
total is within `max_bytes`.  An entry larger than `max_entry_bytes` is never
kept: the caller simply computes it again.

>>> cache: ByteLRU[str, str] = ByteLRU(max_bytes=1_000, max_entry_bytes=400)
>>> cache.get_or_compute("abc", str.upper)
'ABC'
>>> cache.get_or_compute("x" * 500, str.upper) == "X" * 500, len(cache)  # too big to keep
(True, 1)
>>> cache.nbytes <= 1_000
True
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class ByteLRU(Generic[K, V]):
    """An LRU map whose keys and values together stay within `max_bytes`."""

    def __init__(self, max_bytes: int, max_entry_bytes: int | None = None,
                 weigh: Callable[[K, V], int] | None = None) -> None:
        self.max_bytes = max_bytes
        self.max_entry_bytes = max_bytes if max_entry_bytes is None else min(max_entry_bytes, max_bytes)
        self._weigh = weigh or _getsizeof
        self._data: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._lock = threading.Lock()  # the incident task runs models in a thread
        self.nbytes = 0

    def __len__(self) -> int:
        return len(self._data)

    def get_or_compute(self, key: K, compute: Callable[[K], V]) -> V:
        with self._lock:
            hit = self._data.get(key)
            if hit is not None:
                self._data.move_to_end(key)
                return hit[0]
        value = compute(key)
        size = self._weigh(key, value)
        if size > self.max_entry_bytes:
            return value
        with self._lock:
            if key not in self._data:
                self._data[key] = (value, size)
                self.nbytes += size
            while self.nbytes > self.max_bytes:
                _, (_, dropped) = self._data.popitem(last=False)
                self.nbytes -= dropped
        return value

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self.nbytes = 0


def _getsizeof(key: object, value: object) -> int:
    return sys.getsizeof(key) + sys.getsizeof(value)
