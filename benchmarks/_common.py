"""Shared helpers for the benchmark scripts: the matrix-product reference rate."""

from __future__ import annotations

import time

import torch


def matmul_gflops(n: int = 2048, repeats: int = 10) -> float:
    """Achieved float32 GFLOP/s of an n x n matrix product on this machine, now."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    t = time.perf_counter()
    for _ in range(repeats):
        torch.mm(a, b)
    dt = time.perf_counter() - t
    return 2 * n**3 * repeats / dt / 1e9


def best_time(fn, repeats: int = 3) -> float:
    """Best wall time of ``fn()`` over ``repeats`` runs, seconds (after one warm-up)."""
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)
