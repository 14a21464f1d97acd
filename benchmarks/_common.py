"""Shared helpers for the benchmark scripts: the matrix-product reference rate."""

from __future__ import annotations

import time

import torch


def matmul_gflops(n: int = 2048, repeats: int = 10) -> float:
    """Float32 GFLOP/s of an n x n matrix product on this machine, now: the best of ``repeats``
    products (as the timings it is compared with are best-of times, a shared machine's load
    spikes depress neither)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    return 2 * n**3 / best_time(lambda: torch.mm(a, b), repeats=repeats) / 1e9


def best_time(fn, repeats: int = 3) -> float:
    """Best wall time of ``fn()`` over ``repeats`` runs, seconds (after one warm-up)."""
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def encoder_flops(net, tile: int) -> tuple[int, int]:
    """FLOPs of the encoder (+ bottleneck head) and of the whole forward pass for one tile."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.zeros(1, 1, tile, tile)
    with torch.inference_mode():
        with FlopCounterMode(display=False) as enc:
            net.encode(x)
        with FlopCounterMode(display=False) as full:
            net(x)
    return enc.get_total_flops(), full.get_total_flops()
