"""Randomized-smoothing throughput: noisy forward passes per second while certifying, against the
plain batched forward pass of the same network in the same run.

    python benchmarks/bench_smoothing.py [--quick] [--device cpu|cuda] [--batch N] [--threads N]

For each network (the moons and digits smoothing sample models, the digits CNN, and a random
CIFAR-sized CNN), on inputs from the test set the network classifies (uniform noise for the
CIFAR-size CNN), and with the same batch size B -- by default the one the job chooses for the
network (``sampling.auto_batch_size``):

* ``plain``: ``graph(x)`` on a fixed [B, *shape] batch under ``torch.inference_mode()`` -- the
  ceiling: what the network alone costs per row;
* ``count``: ``sampling.count_classes`` -- draw B noise rows on the device, add them to the inputs,
  forward, argmax, count -- the hot loop of CERTIFY, rows per second;
* ``certify``: ``cohen.certify`` end to end (n0 + n draws, Clopper-Pearson, abstain rule) for a
  group of inputs, counted in noisy rows per second.

The ratio ``count / plain`` is the overhead of smoothing itself (noise, counting); the design
target is >= 0.9. Rates are medians of interleaved repeats (plain, count, certify, plain, ...)
and each ratio is the median of the ratios within one repeat, so load from other processes (or a
slow spell of a shared VM) hits both sides alike; on the CPU they are process CPU times (one torch
thread by default), on cuda wall times with ``torch.cuda.synchronize`` around every call. TF32
is off throughout (``sound_math``), as in the job.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from workbench.allocator import keep_freed_memory  # noqa: E402
from workbench.data.datasets import load_dataset  # noqa: E402
from workbench.nets.loading import load_network  # noqa: E402
from workbench.nets.torch_io import graph_from_module  # noqa: E402
from workbench.runtime import sound_math  # noqa: E402
from workbench.smoothing import cohen  # noqa: E402
from workbench.smoothing.sampling import auto_batch_size, count_classes, noise_for  # noqa: E402

MODELS = ROOT / "sample_models"


def _cifar_cnn() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 32, 3, 1, 1), nn.ReLU(), nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(),
                         nn.Conv2d(64, 64, 4, 2, 1), nn.ReLU(), nn.Flatten(), nn.Linear(64 * 8 * 8, 256),
                         nn.ReLU(), nn.Linear(256, 10)).eval()


NETWORKS: list[tuple[str, Callable, str | None]] = [   # name, network, the test set it classifies
    ("moons mlp 2-50-50-2", lambda: load_network(MODELS / "smooth_moons_sigma0.25" / "model.pt"), "moons"),
    ("digits mlp 64-128-64-10", lambda: load_network(MODELS / "smooth_digits_sigma0.25" / "model.pt"),
     "digits"),
    ("digits cnn 1x8x8", lambda: load_network(MODELS / "digits_cnn" / "model.pt"), "digits"),
    ("cifar-size cnn 3x32x32", lambda: graph_from_module(_cifar_cnn(), (3, 32, 32)), None),
]


def inputs(dataset: str | None, shape: tuple[int, ...], rows: int, generator: torch.Generator,
           device: torch.device) -> torch.Tensor:
    """``rows`` inputs: the dataset's test points (repeated as needed), else uniform noise."""
    if dataset is None:
        return torch.rand((rows, *shape), generator=generator, device=device)
    x = torch.as_tensor(load_dataset(dataset).x, dtype=torch.float32, device=device).reshape(-1, *shape)
    return x[torch.arange(rows, device=device) % x.shape[0]]


def timed(fns: list[Callable[[], object]], device: torch.device, repeats: int) -> list[list[float]]:
    """Seconds of each function in each repeat, after one warm-up call each, calls interleaved.

    On the CPU the clock is this process's CPU time: on a shared machine wall time mostly
    measures the other processes (with one torch thread, CPU time is the work done)."""
    clock = time.perf_counter if device.type == "cuda" else time.process_time

    def once(fn) -> float:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = clock()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return clock() - t0

    for fn in fns:
        once(fn)
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for k, fn in enumerate(fns):
            times[k].append(once(fn))
    return times


def calibrate(graph, x_plain: torch.Tensor, device: torch.device, seconds: float) -> int:
    """Batches per timed call so that the plain forward takes about ``seconds``."""
    with torch.inference_mode():
        graph(x_plain)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        for _ in range(3):
            graph(x_plain)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    return max(2, round(seconds / ((time.perf_counter() - t0) / 3)))


def bench(name: str, graph, dataset: str | None, device: torch.device, batch: int, rows: int | None,
          seconds: float, repeats: int) -> dict:
    graph = graph.to(device=device)
    gen = torch.Generator(device=device).manual_seed(0)
    shape = graph.input_shape
    group = cohen.group_size(batch, 100_000)       # inputs sharing a batch, as the job groups them
    x_plain = inputs(dataset, shape, batch, gen, device)
    rows = rows or batch * calibrate(graph, x_plain, device, seconds)
    x = inputs(dataset, shape, group, gen, device)
    noise = noise_for("gaussian", torch.full((group,), 0.25, device=device))
    per_input = max(2 * cohen.DRAWS_PER_BATCH, rows // group)   # draws per input per timed call
    n0 = min(100, per_input // 10)                 # certify's selection draws (100 in the job)

    def plain() -> None:
        with torch.inference_mode():
            for _ in range(max(1, rows // batch)):
                graph(x_plain)

    def count() -> None:
        count_classes(graph, x, noise, per_input, graph.num_outputs, batch_size=batch, generator=gen)

    def certify() -> None:
        cohen.certify(graph, x, noise, graph.num_outputs, n0=n0, n=per_input - n0, alpha=0.001,
                      norm="2", batch_size=batch, generator=gen)

    with sound_math():
        times = timed([plain, count, certify], device, repeats)
    plain_rate, count_rate, cert_rate = ([work / t for t in ts] for work, ts in
                                         zip([max(1, rows // batch) * batch] + [group * per_input] * 2, times))
    # The ratios pair the calls of one repeat (a slow spell of the machine hits both alike).
    return {"name": name, "plain": statistics.median(plain_rate), "count": statistics.median(count_rate),
            "certify": statistics.median(cert_rate),
            "count_ratio": statistics.median(c / p for c, p in zip(count_rate, plain_rate)),
            "certify_ratio": statistics.median(c / p for c, p in zip(cert_rate, plain_rate))}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="11 repeats instead of 41 (about 15 s)")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--batch", type=int, default=None, help="rows per forward pass (default: what the job "
                    "chooses for the network, sampling.auto_batch_size)")
    ap.add_argument("--rows", type=int, default=None, help="noisy rows per timed call (default: what the "
                    "plain forward does in about 0.1 s)")
    ap.add_argument("--repeats", type=int, default=None, help="timed repeats (default 41; --quick: 11)")
    ap.add_argument("--threads", type=int, default=1,
                    help="CPU threads for torch (default 1: stable timings on a shared machine; 0: torch's default)")
    ap.add_argument("--only", default=None, help="only networks whose name contains this text")
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: no CUDA GPU available")
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    keep_freed_memory()     # as the command line and the window do
    seconds = 0.1
    repeats = args.repeats or (11 if args.quick else 41)
    print(f"torch {torch.__version__}, device {device}"
          + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else
             f", {torch.get_num_threads()} threads, {os.cpu_count()} cpus")
          + f", {args.rows or f'~{seconds} s of plain forward'} per timed call"
          + (f"; load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""))
    header = f"{'network':<26}{'batch':>7}{'plain rows/s':>15}{'count rows/s':>15}{'ratio':>8}{'certify rows/s':>17}{'ratio':>8}"
    print(header)
    print("-" * len(header))
    worst = float("inf")
    for name, build, dataset in NETWORKS:
        if args.only and args.only not in name:
            continue
        graph = build()
        batch = args.batch or auto_batch_size(graph, device)
        r = bench(name, graph, dataset, device, batch, args.rows, seconds, repeats)
        worst = min(worst, r["count_ratio"])
        print(f"{r['name']:<26}{batch:>7}{r['plain']:>15,.0f}{r['count']:>15,.0f}{r['count_ratio']:>8.2f}"
              f"{r['certify']:>17,.0f}{r['certify_ratio']:>8.2f}")
    print(f"\nworst count/plain ratio {worst:.2f} (target >= 0.9)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
