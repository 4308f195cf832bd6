"""The embedded store's HyperLogLog sketches and the format they are saved in.

Sketches come from the `hyperloglog` package, at Redis's precision: 2**14 = 16,384 registers,
0.81 % standard error. A sketch is saved as one format byte, ``FORMAT`` (1), then its 16,384
registers as unsigned bytes in register order. A register holds the rank (0 to 51) of the
element that ranked highest among those the package's hash (SHA-1 of the msgpack-encoded
element, 14 bits for the register) sent to it. Releases before the format byte saved the
package's own array as it was in memory; those blobs still load.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import numpy as np
from hyperloglog import HyperLogLog

from ..exceptions import StoreError

__all__ = [
    "FORMAT",
    "REGISTERS",
    "SketchFormatError",
    "add_elements",
    "new_sketch",
    "read_sketch",
    "save_sketch",
    "sketch_registers",
]

FORMAT = 1
"""The first byte of a saved sketch; a blob with another one is not read."""
PRECISION = 14
REGISTERS = 1 << PRECISION
MAX_RANK = 64 - PRECISION + 1
# 1.04 / sqrt(2**14): the same 16,384 registers (0.81 % standard error) as Redis.
_ERROR_RATE = 0.0082
_BULK_MIN = 64
# Before FORMAT, a blob was the package's register array as it was in memory: int8 under
# NumPy 2, int64 under NumPy 1 (the package picks its counter type by NumPy's major version).
_LEGACY: dict[int, np.dtype[Any]] = {REGISTERS: np.dtype(np.int8), REGISTERS * 8: np.dtype(np.int64)}


class SketchFormatError(ValueError):
    """A saved sketch this release cannot read."""


def new_sketch() -> HyperLogLog:
    """An empty sketch of 16,384 registers."""
    sketch = HyperLogLog(_ERROR_RATE)
    if sketch.m != REGISTERS:  # a release of the package that sizes sketches otherwise
        raise StoreError(
            f"The hyperloglog package made a sketch of {sketch.m} registers, not {REGISTERS}: "
            "install the version pixelagg declares (pip install pixelagg)."
        )
    return sketch


def add_elements(sketch: HyperLogLog, elements: Collection[bytes]) -> None:
    """Add elements to a sketch. add_bulk's numpy set-up costs about 27 µs a call, as much as
    20 single adds: most sketches of a flush (one per region) get only a few elements."""
    if len(elements) < _BULK_MIN:
        for element in elements:
            sketch.add(element)
    else:
        sketch.add_bulk(list(elements))


def sketch_registers(sketch: HyperLogLog) -> np.ndarray:
    """A copy of a sketch's registers, cheap to take on the event loop and to save from a thread."""
    return np.array(sketch.M, dtype=np.uint8)


def save_sketch(saved: np.ndarray) -> bytes:
    """The saved form of registers taken by `sketch_registers`: the format byte, then one byte each."""
    return bytes([FORMAT]) + saved.tobytes()


def read_sketch(data: bytes) -> HyperLogLog:
    """The sketch a saved blob holds; SketchFormatError when it is not one this release wrote."""
    if len(data) == 1 + REGISTERS and data[0] == FORMAT:
        values = np.frombuffer(data, dtype=np.uint8, offset=1)
    elif len(data) in _LEGACY:
        values = np.frombuffer(data, dtype=_LEGACY[len(data)])
    elif data and data[0] != FORMAT:
        raise SketchFormatError(f"format {data[0]} (this release reads format {FORMAT}), {len(data)} bytes")
    else:
        raise SketchFormatError(f"{len(data)} bytes, not the {1 + REGISTERS} of format {FORMAT}")
    if values.min() < 0 or values.max() > MAX_RANK:
        raise SketchFormatError(f"a register outside 0..{MAX_RANK}")
    sketch = new_sketch()
    sketch.M = values.astype(sketch.M.dtype)
    return sketch
