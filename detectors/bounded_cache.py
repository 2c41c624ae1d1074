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
        # A hit needs no lock: both dict operations are atomic, and a key another thread evicts in
        # between is simply computed again.
        hit = self._data.get(key)
        if hit is not None:
            try:  # noqa: SIM105 - not contextlib.suppress: the hot path, where a context manager costs more
                self._data.move_to_end(key)
            except KeyError:
                pass
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


class ShortKeyMemo(Generic[V]):
    """A memo of a pure ``str -> V`` function for short keys, with no lock and no LRU bookkeeping.

    For the hot path: a category, a brand or a language code is normalised on
    every event, from a few hundred distinct values.  Keys longer than
    `max_key_chars` are computed and not kept; when `max_entries` are kept the
    memo starts again empty.  So it holds at most ``max_entries`` keys of at
    most ``max_key_chars`` code points each (4 bytes each at worst) and their
    values, which the caller keeps as small as the key (a normalised form).

    >>> memo: ShortKeyMemo[str] = ShortKeyMemo(str.casefold, max_entries=2, max_key_chars=8)
    >>> memo("ABC"), memo("ABC"), len(memo)
    ('abc', 'abc', 1)
    >>> memo("X" * 9), len(memo)  # too long to keep
    ('xxxxxxxxx', 1)
    >>> _ = memo("D"), memo("E"); len(memo)  # full at 2: started again
    1
    """

    __slots__ = ("_compute", "_data", "max_entries", "max_key_chars")

    def __init__(self, compute: Callable[[str], V], max_entries: int = 4096, max_key_chars: int = 128) -> None:
        self._compute = compute
        self._data: dict[str, V] = {}
        self.max_entries = max_entries
        self.max_key_chars = max_key_chars

    def __len__(self) -> int:
        return len(self._data)

    def __call__(self, key: str) -> V:
        try:
            return self._data[key]
        except KeyError:
            pass
        value = self._compute(key)
        if len(key) <= self.max_key_chars:
            if len(self._data) >= self.max_entries:
                self._data = {}
            self._data[key] = value
        return value
