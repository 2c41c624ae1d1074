"""Locality-sensitive band keys: how a near-duplicate index is spread over partitions.

A near-duplicate detector cannot keep one index per country (a hot key, whose
record is rewritten per event, on one partition).  Instead each item is
filed under a few *band keys*, and an item's near-duplicates are those filed
under at least one of its band keys, so they meet on the band's partition:

* MinHash signatures (`minhash_bands`): ``bands`` groups of ``rows``
  consecutive hash values; two texts of Jaccard similarity ``J`` share a band
  with probability ``1 - (1 - J**rows)**bands`` (the LSH S-curve).
* 64-bit perceptual hashes (`bit_bands`): the bits cut into ``bands``
  contiguous slices.  Two hashes at Hamming distance ``d < bands`` agree on
  at least one slice (pigeonhole: ``d`` differing bits touch at most ``d``
  slices), so with ``bands = max_distance + 1`` the index misses no pair
  within ``max_distance`` (multi-index hashing).

A band key is ``"<country>:<band>:<value>"``; the country keeps countries
apart (as the per-country index did) and spreads a country's index over
every partition.

>>> bit_bands(0xFFFF_0000_FFFF_0000, 4)
['0:ffff', '1:0', '2:ffff', '3:0']
>>> a, b = 0x8F3A5C7E91B2D4F0, 0x8F3A5C7E91B2D4F3   # two bits apart
>>> len(set(bit_bands(a, 3)) & set(bit_bands(b, 3))) >= 1
True
>>> len(minhash_bands(list(range(64)), 8, 4))
8
"""

from __future__ import annotations

import functools
import hashlib
import struct
from collections.abc import Sequence
from typing import Final

HASH_BITS: Final = 64


@functools.cache
def bit_slices(bands: int, bits: int = HASH_BITS) -> tuple[tuple[int, int], ...]:
    """(shift, width) of each band: `bits` cut into `bands` contiguous slices, the widest first.

    >>> bit_slices(7)
    ((54, 10), (45, 9), (36, 9), (27, 9), (18, 9), (9, 9), (0, 9))
    """
    if not 1 <= bands <= bits:
        raise ValueError(f"bands must be in [1, {bits}]")
    base, extra = divmod(bits, bands)
    out: list[tuple[int, int]] = []
    top = bits
    for i in range(bands):
        width = base + (1 if i < extra else 0)
        top -= width
        out.append((top, width))
    return tuple(out)


def bit_bands(value: int, bands: int) -> list[str]:
    """The band keys (without the country) of a 64-bit hash: ``"<band>:<slice as hex>"``."""
    return [f"{i}:{(value >> shift) & ((1 << width) - 1):x}" for i, (shift, width) in enumerate(bit_slices(bands))]


def minhash_bands(signature: Sequence[int], bands: int, rows: int) -> list[str]:
    """The band keys (without the country) of a MinHash signature: ``"<band>:<16 hex digits>"``.

    Band ``i`` is values ``i*rows .. (i+1)*rows - 1``, digested (blake2b, 8 bytes) so the key
    is short whatever `rows` is.
    """
    if bands < 1 or rows < 1 or bands * rows > len(signature):
        raise ValueError("need 1 <= bands, 1 <= rows and bands * rows <= len(signature)")
    out: list[str] = []
    for i in range(bands):
        part = struct.pack(f">{rows}Q", *signature[i * rows:(i + 1) * rows])
        out.append(f"{i}:{hashlib.blake2b(part, digest_size=8).hexdigest()}")
    return out


def share_probability(similarity: float, bands: int, rows: int) -> float:
    """Probability that two signatures of Jaccard `similarity` share at least one band.

    >>> round(share_probability(0.8, 8, 4), 3), round(share_probability(0.3, 8, 4), 3)
    (0.985, 0.063)
    """
    return 1.0 - (1.0 - similarity**rows) ** bands
