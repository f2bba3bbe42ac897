"""Bound computation time and tightness: the workbench's IBP / CROWN / alpha-CROWN vs auto_LiRPA.

    python benchmarks/bench_bounds.py [--quick] [--device cpu|cuda] [--batch N] [--no-lirpa]

Every network is a torch nn.Sequential with random (seeded) weights, built once; the workbench
bounds its Graph (workbench.nets.torch_io.graph_from_module) and auto_LiRPA wraps the very same
module in a BoundedModule, so both see identical float32 weights, the same batch of Linf balls
and the same spec matrix C (robustness margins y_label - y_j for classifiers, the raw outputs
for one-output regressors). Times are the median of several repeats after one warm-up call.

auto_LiRPA is optional (see benchmarks/README.md for how to install it); without it only the
workbench columns are printed.
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from workbench.bounds.crown import intermediate_bounds  # noqa: E402
from workbench.bounds.sets import InputSet  # noqa: E402
from workbench.bounds.verify import compute_bounds  # noqa: E402
from workbench.jobs.certify import CrownParams  # noqa: E402
from workbench.nets.graph import Graph, Node  # noqa: E402
from workbench.allocator import keep_freed_memory  # noqa: E402
from workbench.runtime import sound_math  # noqa: E402

ALPHA_ITERATIONS = 20
ALPHA_LR = 0.1
METHODS = ("ibp", "crown", "alpha-crown")
# The batch the certify job bounds together by default: the size the workbench actually runs.
JOB_BATCH = CrownParams().batch_size
LIRPA_METHOD = {"ibp": "IBP", "crown": "backward", "alpha-crown": "CROWN-Optimized"}


# -- networks ------------------------------------------------------------------------------------
@dataclass
class NetSpec:
    name: str
    build: Callable[[], nn.Sequential]
    input_shape: tuple[int, ...]
    eps: float
    classifier: bool
    inputs: str            # "unit": uniform in [0, 1] (image-like); "normal": standard normal
    seed: int


def _mlp(sizes: list[int], act: type[nn.Module]) -> Callable[[], nn.Sequential]:
    def build() -> nn.Sequential:
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(nn.Linear(a, b))
            if i < len(sizes) - 2:
                layers.append(act())
        return nn.Sequential(*layers)
    return build


def _cnn() -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(1, 16, 4, 2, 1), nn.ReLU(), nn.Conv2d(16, 32, 4, 2, 1), nn.ReLU(),
                         nn.Flatten(), nn.Linear(32 * 7 * 7, 100), nn.ReLU(), nn.Linear(100, 10))


# eps: large enough that a good share of the ReLUs is unstable, small enough for finite and
# useful bounds (the "unstable" column of the report shows the share at the chosen eps).
NETWORKS = [
    NetSpec("mlp 2-64-64-2 relu", _mlp([2, 64, 64, 2], nn.ReLU), (2,), 0.3, True, "normal", 1),
    NetSpec("mlp 784-256x3-10 relu", _mlp([784, 256, 256, 256, 10], nn.ReLU), (784,), 0.01, True, "unit", 2),
    NetSpec("mlp 2-50x3-1 tanh", _mlp([2, 50, 50, 50, 1], nn.Tanh), (2,), 0.1, False, "normal", 3),
    NetSpec("cnn 1x28x28 relu", _cnn, (1, 28, 28), 0.01, True, "unit", 4),
    NetSpec("mlp 64-128-128-10 sigmoid", _mlp([64, 128, 128, 10], nn.Sigmoid), (64,), 0.05, True, "normal", 5),
]


def to_graph(module: nn.Sequential, input_shape: tuple[int, ...]) -> Graph:
    """The workbench Graph of the module (torch_io's converter; a local fallback for the few layer
    kinds used here if that module is unavailable)."""
    try:
        from workbench.nets.torch_io import graph_from_module
    except ImportError:
        graph_from_module = None
    if graph_from_module is not None:
        return graph_from_module(module, input_shape)
    nodes = [Node("input")]
    with torch.no_grad():
        for m in module:
            last = (len(nodes) - 1,)
            if isinstance(m, nn.Linear):
                nodes.append(Node("linear", last, {"W": m.weight.detach().clone(), "b": m.bias.detach().clone()}))
            elif isinstance(m, nn.Conv2d):
                nodes.append(Node("conv2d", last, {"weight": m.weight.detach().clone(), "bias": m.bias.detach().clone(),
                                                   "stride": m.stride, "padding": m.padding,
                                                   "dilation": m.dilation, "groups": m.groups}))
            elif isinstance(m, nn.Flatten):
                nodes.append(Node("reshape", last, {"shape": (-1,)}))
            else:
                nodes.append(Node({nn.ReLU: "relu", nn.Tanh: "tanh", nn.Sigmoid: "sigmoid"}[type(m)], last))
    return Graph(input_shape, nodes)


def margin_spec(logits: torch.Tensor) -> torch.Tensor:
    """C [B, K-1, K] with rows e_label - e_j (j != label), label = the prediction at the center."""
    B, K = logits.shape
    label = logits.argmax(1)
    eye = torch.eye(K, dtype=logits.dtype, device=logits.device)
    C = eye[label].unsqueeze(1) - eye.unsqueeze(0)                 # [B, K, K]
    keep = torch.arange(K, device=logits.device).unsqueeze(0) != label.unsqueeze(1)   # [B, K]
    return C[keep].view(B, K - 1, K)


# -- timing --------------------------------------------------------------------------------------
def timed(fns: list[Callable[[], tuple]], device: torch.device, repeats: int, budget_s: float,
          slow_s: float = 4.0) -> list[tuple[float, tuple]]:
    """Median wall time (ms) of each function after one warm-up call each, and its last result.

    The functions' timed calls are interleaved (a, b, a, b, ...) so that load from other processes
    hits all of them alike. ``repeats`` rounds, fewer (at least 1) when the calls are slow, to keep
    one measurement within about budget_s. When a call takes over ``slow_s`` seconds, one-off
    costs (allocator, first-call dispatch) are noise at that scale and the warm-up call itself
    is the measurement (this keeps the whole benchmark within a few minutes)."""
    def once(fn) -> tuple[float, tuple]:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        out = fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - t0, out

    warm = [once(fn) for fn in fns]
    if max(t for t, _ in warm) > slow_s:
        return [(t * 1e3, out) for t, out in warm]
    n = max(1, min(repeats, int(budget_s / max(sum(t for t, _ in warm), 1e-6))))
    times: list[list[float]] = [[] for _ in fns]
    outs = [out for _, out in warm]
    for _ in range(n):
        for k, fn in enumerate(fns):
            t, outs[k] = once(fn)
            times[k].append(t)
    return [(statistics.median(ts) * 1e3, out) for ts, out in zip(times, outs)]


# -- the two libraries ---------------------------------------------------------------------------
def ours(graph: Graph, inputs: InputSet, C: torch.Tensor | None, method: str) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.no_grad(), sound_math():
        return compute_bounds(graph, inputs, C, method, alpha_iterations=ALPHA_ITERATIONS, alpha_lr=ALPHA_LR)


class Lirpa:
    """auto_LiRPA on the same module, inputs and C.

    alpha-CROWN ("fixed" mode, the default) matches ours: CROWN intermediate bounds are computed
    once (a CROWN call, inside the timing) and kept fixed, and only the output layer's slopes are
    optimised. auto_LiRPA's own default ("full", --lirpa-alpha full) recomputes every intermediate
    layer's CROWN bounds in every iteration and optimises those layers' slopes as well: tighter,
    and a different (much more expensive) algorithm.
    """

    def __init__(self, lib, module: nn.Module, x: torch.Tensor, eps: float, device: torch.device, alpha_mode: str):
        self.lib, self.module, self.x, self.eps, self.device = lib, module, x, eps, device
        self.alpha_mode = alpha_mode

    def bounded_module(self):
        opts = {"optimize_bound_args": {"iteration": ALPHA_ITERATIONS, "lr_alpha": ALPHA_LR,
                                        # Ours: plain Adam at a constant rate, best bound kept.
                                        "lr_decay": 1.0, "keep_best": True},
                # auto_LiRPA 0.3's sparse alpha storage fails on some ReLU MLPs ("shape mismatch ...
                # cannot be broadcast to indexing result"); dense alphas (as ours) give the same bounds.
                "sparse_features_alpha": False}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return self.lib.BoundedModule(self.module, torch.zeros_like(self.x[:1]), bound_opts=opts,
                                          device=str(self.device))

    def __call__(self, model, C: torch.Tensor | None, method: str) -> tuple[torch.Tensor, torch.Tensor]:
        bx = self.lib.BoundedTensor(self.x, self.lib.PerturbationLpNorm(norm=math.inf, eps=self.eps))
        if method != "alpha-crown":
            with torch.no_grad():
                lo, up = model.compute_bounds(x=(bx,), C=C, method=LIRPA_METHOD[method])
            return lo.detach(), up.detach()
        fixed = None
        if self.alpha_mode == "fixed":
            with torch.no_grad():
                model.compute_bounds(x=(bx,), C=C, method="backward")
            fixed = {n.inputs[0].name: (n.inputs[0].lower.detach(), n.inputs[0].upper.detach())
                     for n in model.optimizable_activations if hasattr(n.inputs[0], "lower")}
        # The optimisation needs autograd: no torch.no_grad here.
        lo, up = model.compute_bounds(x=(bx,), C=C, method=LIRPA_METHOD[method], intermediate_layer_bounds=fixed)
        return lo.detach(), up.detach()


# -- checks --------------------------------------------------------------------------------------
def sample_in_ball(x: torch.Tensor, eps: float, n: int, gen: torch.Generator) -> torch.Tensor:
    """n points per center [n, B, *in]: half uniform in the box, half on random vertices."""
    shape = (n, *x.shape)
    u = torch.rand(shape, generator=gen).to(x.device)
    u[: n // 2] = (u[: n // 2] > 0.5).to(u.dtype)
    return x.unsqueeze(0) + eps * (2 * u - 1)


def contains(lo: torch.Tensor, up: torch.Tensor, values: torch.Tensor) -> bool:
    """values [n, B, S] within [lo, up] [B, S] (tolerance: float32 rounding of the forward pass)."""
    tol = 1e-5 * (1 + values.abs())
    return bool(((values >= lo - tol) & (values <= up + tol)).all())


def float64_gap(graph: Graph, inputs: InputSet, C: torch.Tensor | None, lo_l: torch.Tensor, up_l: torch.Tensor,
                n: int = 4) -> float:
    """Largest |ours - auto_LiRPA| when ours runs in float64 (first n samples): float32 gaps of
    1e-5..1e-3 are our rounding slack (sets.rounding_slack, padded intercepts), not a different
    algorithm; the float64 gap shows how far apart the two CROWN algorithms themselves are."""
    idx = torch.arange(min(n, inputs.batch), device=inputs.lower.device)
    sub = inputs.select(idx).to(dtype=torch.float64)
    C64 = None if C is None else C[idx].double()
    lo, up = ours(graph.to(dtype=torch.float64), sub, C64, "crown")
    return float(torch.max((lo - lo_l[idx].double()).abs().max(), (up - up_l[idx].double()).abs().max()))


def unstable_share(graph: Graph, inputs: InputSet) -> float:
    """Share of ReLU neurons (over the batch) whose CROWN intermediate bounds straddle 0; nan when
    the network has no ReLU."""
    with torch.no_grad(), sound_math():
        bounds, relax = intermediate_bounds(graph, inputs)
    total = unstable = 0
    for i in relax:
        if graph.nodes[i].op != "relu":
            continue
        lo, up = bounds[graph.nodes[i].inputs[0]]
        total += lo.numel()
        unstable += int(((lo < 0) & (up > 0)).sum())
    return unstable / total if total else float("nan")


# -- main ----------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="batch 8 and fewer repeats (< 1 min)")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--batch", type=int, default=None,
                    help=f"inputs per network (default {JOB_BATCH}, the certify job's; --quick: 8)")
    ap.add_argument("--repeats", type=int, default=None, help="timed repeats per measurement (default 5; --quick: 3)")
    ap.add_argument("--threads", type=int, default=1,
                    help="CPU threads for torch (default 1: stable timings on a shared machine; 0: torch's default)")
    ap.add_argument("--no-lirpa", action="store_true", help="skip auto_LiRPA even if it is installed")
    ap.add_argument("--lirpa-alpha", choices=["fixed", "full"], default="fixed",
                    help="auto_LiRPA alpha-CROWN: fixed intermediate bounds as ours (default), or its own "
                         "default that re-optimises every layer (slow: minutes on the CNN)")
    ap.add_argument("--no-f64", action="store_true", help="skip the float64 re-run of our CROWN (the d64 column)")
    ap.add_argument("--only", default=None, help="run only networks whose name contains this text")
    ap.add_argument("--methods", default=",".join(METHODS), help="comma-separated subset of " + ", ".join(METHODS))
    args = ap.parse_args(argv)

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: no CUDA GPU available")
    batch = args.batch or (8 if args.quick else JOB_BATCH)
    repeats = args.repeats or (3 if args.quick else 5)
    budget_s = 0.6 if args.quick else 2.0
    slow_s = 1.5 if args.quick else 4.0
    methods = [m for m in args.methods.split(",") if m]
    if any(m not in METHODS for m in methods):
        ap.error(f"--methods: choose from {', '.join(METHODS)}")
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    keep_freed_memory()   # as the workbench's own entry points do; it helps auto_LiRPA alike

    lib, why = (None, "skipped (--no-lirpa)") if args.no_lirpa else _load_lirpa()
    print(f"torch {torch.__version__}, device {device}"
          + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else
             f", {torch.get_num_threads()} threads, {os.cpu_count()} cpus")
          + f", batch {batch}, alpha-CROWN {ALPHA_ITERATIONS} iterations at lr {ALPHA_LR}")
    print(f"auto_LiRPA: {getattr(lib, '__version__', 'installed') if lib is not None else why}"
          + (f", alpha-CROWN intermediate bounds: {args.lirpa_alpha}" if lib is not None else "")
          + (f"; load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""))
    print()

    _process_warmup(lib, device, methods, args.lirpa_alpha)
    rows: list[dict] = []
    failures: list[str] = []
    started = time.perf_counter()
    for spec in NETWORKS:
        if args.only and args.only not in spec.name:
            continue
        torch.manual_seed(spec.seed)
        module = spec.build().eval().to(device=device, dtype=torch.float32)
        for p in module.parameters():
            p.requires_grad_(False)
        graph = to_graph(module, spec.input_shape)
        gen = torch.Generator().manual_seed(1000 + spec.seed)
        x = (torch.rand if spec.inputs == "unit" else torch.randn)((batch, *spec.input_shape), generator=gen)
        x = x.to(device=device, dtype=torch.float32)
        with torch.no_grad():
            y = module(x)
        C = margin_spec(y) if spec.classifier else None
        inputs = InputSet.ball(x, spec.eps)
        share = unstable_share(graph, inputs)
        with torch.no_grad():
            pts = sample_in_ball(x, spec.eps, 64, gen)
            out = module(pts.flatten(0, 1)).view(pts.shape[0], batch, -1)
            values = torch.einsum("bso,nbo->nbs", C, out) if C is not None else out
        peer = Lirpa(lib, module, x, spec.eps, device, args.lirpa_alpha) if lib is not None else None

        for method in methods:
            row = {"net": spec.name, "method": method, "unstable": share}
            fns = [lambda: ours(graph, inputs, C, method)]
            if peer is not None:
                model = peer.bounded_module()   # a fresh one per method: no state carried over
                fns.append(lambda: peer(model, C, method))
            try:
                results = timed(fns, device, repeats, budget_s, slow_s)
            except Exception as err:   # noqa: BLE001  (auto_LiRPA failing: report it, time ours alone)
                if peer is None:
                    raise
                failures.append(f"{spec.name} {method}: auto_LiRPA failed: {type(err).__name__}: {err}")
                results = timed(fns[:1], device, repeats, budget_s, slow_s)
            ms, (lo, up) = results[0]
            row.update(ours_ms=ms, ours_width=float((up - lo).mean()))
            if not (bool(torch.isfinite(lo).all() and torch.isfinite(up).all()) and contains(lo, up, values)):
                failures.append(f"{spec.name} {method}: OUR bounds miss a sampled forward pass or are not finite")
            if len(results) > 1:
                ms_l, (lo_l, up_l) = results[1]
                lo_l, up_l = lo_l.to(lo.dtype), up_l.to(up.dtype)
                if not contains(lo_l, up_l, values):
                    failures.append(f"{spec.name} {method}: auto_LiRPA bounds miss a sampled forward pass")
                row.update(lirpa_ms=ms_l, lirpa_width=float((up_l - lo_l).mean()),
                           d_lo=float((lo - lo_l).abs().max()), d_up=float((up - up_l).abs().max()))
                if method == "crown" and not args.no_f64:
                    row["d64"] = float64_gap(graph, inputs, C, lo_l, up_l)
            rows.append(row)
            _print_row(row, header=len(rows) == 1)
    elapsed = time.perf_counter() - started

    print()
    print(f"total {elapsed:.1f} s")
    if any("lirpa_ms" in r for r in rows):
        _summary(rows)
    for f in failures:
        print("FAIL:", f)
    return 1 if failures else 0


def _process_warmup(lib, device: torch.device, methods: list[str], alpha_mode: str) -> None:
    """Pay the once-per-process costs (lazy imports on the first optimiser step, kernel
    selection) on a tiny network, outside every measurement."""
    torch.manual_seed(0)
    module = _mlp([2, 8, 2], nn.ReLU)().eval().to(device)
    for p in module.parameters():
        p.requires_grad_(False)
    x = torch.randn(2, 2, device=device)
    graph, inputs = to_graph(module, (2,)), InputSet.ball(x, 0.1)
    C = margin_spec(module(x))
    peer = Lirpa(lib, module, x, 0.1, device, alpha_mode) if lib is not None else None
    for method in methods:
        ours(graph, inputs, C, method)
        if peer is not None:
            try:
                peer(peer.bounded_module(), C, method)
            except Exception:   # noqa: BLE001  (the measurement itself reports failures)
                pass


def _load_lirpa():
    try:
        from benchmarks.lirpa_compat import load_auto_lirpa
    except ImportError:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from lirpa_compat import load_auto_lirpa
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_auto_lirpa()


COLUMNS = [("network", 26), ("method", 11), ("unstable", 8), ("ours ms", 9), ("lirpa ms", 9),
           ("ours/lirpa", 10), ("max|dlo|", 9), ("max|dup|", 9), ("d64", 7), ("width ours", 10),
           ("width lirpa", 11), ("tighter?", 8)]


def _print_row(r: dict, header: bool) -> None:
    if header:
        print("  ".join(name.rjust(w) if i > 1 else name.ljust(w) for i, (name, w) in enumerate(COLUMNS)))
        print("  ".join("-" * w for _, w in COLUMNS))
    has = "lirpa_ms" in r
    # "at least as tight": our mean width no larger than theirs, up to our float-rounding slack.
    # "=f64": looser in float32 only by our rounding slack; equal to theirs when ours runs in float64.
    tight = "-"
    if has:
        tight = "yes" if r["ours_width"] <= r["lirpa_width"] * (1 + 1e-4) + 1e-6 else \
            "=f64" if r.get("d64", 1.0) <= 1e-5 else "no"
    cells = [r["net"], r["method"], "-" if math.isnan(r["unstable"]) else f"{r['unstable']:.0%}",
             f"{r['ours_ms']:.1f}",
             f"{r['lirpa_ms']:.1f}" if has else "-",
             f"{r['ours_ms'] / r['lirpa_ms']:.2f}" if has else "-",
             f"{r['d_lo']:.1e}" if has else "-", f"{r['d_up']:.1e}" if has else "-",
             f"{r['d64']:.0e}" if "d64" in r else "-",
             f"{r['ours_width']:.4g}", f"{r['lirpa_width']:.4g}" if has else "-", tight]
    print("  ".join(c.rjust(w) if i > 1 else c.ljust(w) for i, (c, (_, w)) in enumerate(zip(cells, COLUMNS))),
          flush=True)


def _summary(rows: list[dict]) -> None:
    for method in METHODS:
        sel = [r for r in rows if r["method"] == method and "lirpa_ms" in r]
        if not sel:
            continue
        ratios = [r["ours_ms"] / r["lirpa_ms"] for r in sel]
        gmean = math.exp(sum(map(math.log, ratios)) / len(ratios))
        rel = [r["ours_width"] / r["lirpa_width"] - 1 for r in sel if r["lirpa_width"] > 0]
        print(f"{method:12s} time ours/lirpa: geometric mean {gmean:.2f} (range {min(ratios):.2f}-{max(ratios):.2f});"
              f" mean width ours vs lirpa: {min(rel):+.2%} .. {max(rel):+.2%}")


if __name__ == "__main__":
    sys.exit(main())
