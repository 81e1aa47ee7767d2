"""Derivation cost does not grow with width: derive() of 11 layers of 1024 units, one partial, BP1-BP4.

Run: python benchmarks/derive_wide.py
"""

from __future__ import annotations

import statistics
import time

import symgrad as sg


def once(width: int) -> float:
    start = time.perf_counter()
    net = sg.Network.mlp([width] * 12, hidden="relu", output="softmax", cost="cross_entropy")
    d = sg.derive(net)
    d.partial("W1", 3, 5)
    d.equations()
    return time.perf_counter() - start


def main() -> None:
    once(8)  # warm up imports and SymPy caches
    for width in (8, 64, 1024):
        times = [once(width) for _ in range(5)]
        print(
            f"11 hidden layers of {width:>4} units: derive + partial('W1', 3, 5) + equations(): "
            f"median {statistics.median(times) * 1e3:.1f} ms over 5 runs"
        )


if __name__ == "__main__":
    main()
