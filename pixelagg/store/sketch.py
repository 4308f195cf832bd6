"""The embedded store's HyperLogLog sketches and the formats they are saved in.

A sketch has Redis's precision: 2**14 = 16,384 registers, 0.81 % standard error. An element
goes to the register given by the low 14 bits of the first 8 bytes (big-endian) of the SHA-1
of its msgpack encoding, with the rank (1 to 51) of the remaining 50 bits: the hash of the
`hyperloglog` package, whose estimator reads the registers. Like Redis, a sketch is sparse
while few registers are set: a sorted array of (register, rank) entries, 4 bytes each in
memory, instead of 16 KB; past `SPARSE_MAX` entries it becomes dense.

Saved, a sketch is one format byte, then:

- format 1 (dense): its 16,384 registers as unsigned bytes in register order;
- format 2 (sparse): 3 bytes per set register in register order, the register as an unsigned
  16-bit little-endian number, then its rank.

Releases before the format byte saved the package's own array as it was in memory; those blobs
still load. A blob whose format byte is above `FORMAT_MAX` was written by a newer release
(`SketchFormatError`); any other blob that does not read is damaged (`SketchDamagedError`).
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Iterable, Sequence
from hashlib import sha1
from typing import Any

import numpy as np
from hyperloglog import HyperLogLog

from ..exceptions import StoreError

__all__ = [
    "DENSE",
    "FORMAT",
    "FORMAT_MAX",
    "REGISTERS",
    "SPARSE",
    "SPARSE_MAX",
    "Sketch",
    "SketchDamagedError",
    "SketchFormatError",
    "count_union",
    "read_sketch",
    "save_sketch",
]

DENSE = FORMAT = 1
"""The first byte of a dense saved sketch."""
SPARSE = 2
"""The first byte of a sparse saved sketch."""
FORMAT_MAX = SPARSE
PRECISION = 14
REGISTERS = 1 << PRECISION
MAX_RANK = 64 - PRECISION + 1
SPARSE_MAX = 1024
"""Entries (4 bytes each) a sparse sketch holds before it becomes dense (16 KB): like Redis's
hll-sparse-max-bytes, a size at which the dense form costs little more."""
_MASK = REGISTERS - 1
_RANK_BITS = 6  # ranks go up to 51
_RANK_MASK = (1 << _RANK_BITS) - 1
# Before FORMAT, a blob was the package's register array as it was in memory: int8 under
# NumPy 2, int64 under NumPy 1 (the package picks its counter type by NumPy's major version).
_LEGACY: dict[int, np.dtype[Any]] = {REGISTERS: np.dtype(np.int8), REGISTERS * 8: np.dtype(np.int64)}
# 1.04 / sqrt(2**14): the package's error rate for 16,384 registers.
ERROR_RATE = 0.0082


class SketchFormatError(ValueError):
    """A saved sketch this release cannot read: a newer release wrote it."""


class SketchDamagedError(SketchFormatError):
    """A saved sketch that is not a valid sketch of any format: the row is damaged."""


def _packed(element: bytes) -> bytes:
    """The msgpack encoding of bytes (bin 8, 16 or 32), as the package hashes it."""
    n = len(element)
    if n < 0x100:
        return b"\xc4" + n.to_bytes(1, "big") + element
    if n < 0x10000:
        return b"\xc5" + n.to_bytes(2, "big") + element
    return b"\xc6" + n.to_bytes(4, "big") + element


def _register_rank(element: bytes) -> tuple[int, int]:
    x = int.from_bytes(sha1(_packed(element)).digest()[:8], "big")
    return x & _MASK, MAX_RANK - (x >> PRECISION).bit_length()


class Sketch:
    """A HyperLogLog of 16,384 registers, sparse while small."""

    __slots__ = ("_dense", "_sparse")

    def __init__(self) -> None:
        self._sparse: array[int] | None = array("I")
        """Entries register << 6 | rank, sorted; None once dense."""
        self._dense: bytearray | None = None

    @property
    def is_sparse(self) -> bool:
        return self._sparse is not None

    def add(self, elements: Iterable[bytes]) -> None:
        """Add elements (their registers keep the highest rank seen)."""
        for element in elements:
            register, rank = _register_rank(element)
            sparse = self._sparse
            if sparse is None:
                dense = self._dense
                assert dense is not None
                if rank > dense[register]:
                    dense[register] = rank
                continue
            key = register << _RANK_BITS
            at = bisect.bisect_left(sparse, key)
            if at < len(sparse) and sparse[at] >> _RANK_BITS == register:
                if sparse[at] & _RANK_MASK < rank:
                    sparse[at] = key | rank
            else:
                sparse.insert(at, key | rank)
                if len(sparse) > SPARSE_MAX:
                    self._densify()

    def _densify(self) -> None:
        self._dense = bytearray(self.registers().tobytes())
        self._sparse = None

    def registers(self) -> np.ndarray:
        """A fresh array of the 16,384 registers (unsigned bytes)."""
        if self._dense is not None:
            return np.frombuffer(self._dense, dtype=np.uint8).copy()
        values = np.zeros(REGISTERS, dtype=np.uint8)
        entries = np.frombuffer(self._sparse or array("I"), dtype=np.uint32)
        values[entries >> _RANK_BITS] = entries & _RANK_MASK
        return values

    def snapshot(self) -> bytes:
        """Its saved form: taken on the event loop, written from a thread (a copy either way)."""
        if self._dense is not None:
            return bytes([DENSE]) + bytes(self._dense)
        entries = np.frombuffer(self._sparse or array("I"), dtype=np.uint32)
        out = np.empty((len(entries), 3), dtype=np.uint8)
        registers = entries >> _RANK_BITS
        out[:, 0] = registers & 0xFF
        out[:, 1] = registers >> 8
        out[:, 2] = entries & _RANK_MASK
        return bytes([SPARSE]) + out.tobytes()

    def card(self) -> float:
        """The estimated number of distinct elements added."""
        return count_union([self])

    def memory(self) -> int:
        """Bytes held by its registers (for the memory benchmark and tests)."""
        if self._dense is not None:
            return len(self._dense)
        return (self._sparse.buffer_info()[1] if self._sparse is not None else 0) * 4


def count_union(sketches: Sequence[Sketch]) -> float:
    """The estimated cardinality of the union of sketches, by the package's estimator."""
    estimator = HyperLogLog(ERROR_RATE)
    if estimator.m != REGISTERS:  # a release of the package that sizes sketches otherwise
        raise StoreError(
            f"The hyperloglog package made a sketch of {estimator.m} registers, not {REGISTERS}: "
            "install the version pixelagg declares (pip install pixelagg)."
        )
    if not sketches:
        return 0.0
    merged = sketches[0].registers()
    for sketch in sketches[1:]:
        np.maximum(merged, sketch.registers(), out=merged)
    estimator.M = merged.astype(estimator.M.dtype)
    return float(estimator.card())


def save_sketch(sketch: Sketch) -> bytes:
    """The saved form of a sketch (its snapshot)."""
    return sketch.snapshot()


def read_sketch(data: bytes) -> Sketch:
    """The sketch a saved blob holds; SketchFormatError when it is not one this release reads."""
    if data and data[0] > FORMAT_MAX and len(data) not in _LEGACY:
        raise SketchFormatError(f"format {data[0]} (this release reads formats 1 and {FORMAT_MAX})")
    sketch = Sketch()
    if len(data) == 1 + REGISTERS and data[0] == DENSE:
        values = np.frombuffer(data, dtype=np.uint8, offset=1).astype(np.int64)
    elif len(data) in _LEGACY:
        values = np.frombuffer(data, dtype=_LEGACY[len(data)]).astype(np.int64)
    elif data and data[0] == SPARSE and (len(data) - 1) % 3 == 0:
        return _read_sparse(data)
    else:
        raise SketchDamagedError(f"{len(data)} bytes, not a sketch of format 1 or {FORMAT_MAX}")
    if values.min() < 0 or values.max() > MAX_RANK:
        raise SketchDamagedError(f"a register outside 0..{MAX_RANK}")
    sketch._dense = bytearray(values.astype(np.uint8).tobytes())
    sketch._sparse = None
    return sketch


def _read_sparse(data: bytes) -> Sketch:
    entries = np.frombuffer(data, dtype=np.uint8, offset=1).reshape(-1, 3).astype(np.uint32)
    registers = entries[:, 0] | (entries[:, 1] << 8)
    ranks = entries[:, 2]
    if len(entries) > SPARSE_MAX or (len(registers) and registers.max() >= REGISTERS):
        raise SketchDamagedError(f"a sparse sketch of {len(entries)} entries or a register past {_MASK}")
    if len(registers) > 1 and not bool(np.all(registers[1:] > registers[:-1])):
        raise SketchDamagedError("sparse registers out of order")
    if len(ranks) and (ranks.min() < 1 or ranks.max() > MAX_RANK):
        raise SketchDamagedError(f"a register outside 1..{MAX_RANK}")
    sketch = Sketch()
    sketch._sparse = array("I", ((registers << _RANK_BITS) | ranks).tolist())
    return sketch
