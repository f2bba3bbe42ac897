"""The bound-propagation certification job: IBP, CROWN and alpha-CROWN over a dataset, an
input array or a VNN-LIB property, with PGD falsification, radius search and input-domain BaB."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch

from ..bounds.bab import input_bab
from ..bounds.sets import InputSet
from ..bounds.specs import from_disjuncts, robustness
from ..bounds.verify import certified_radius, compute_bounds, verify
from ..nets.loading import load_network
from ..runtime import CancelledFn, ProgressFn, check_cancelled, resolve_device, sound_math
from .certify_inputs import load_cases, load_samples
from .registry import param, params_to_dict


@dataclass
class CrownParams:
    eps: float = param(0.01, help="perturbation radius around each sample", min=0.0)
    norm: Literal["inf", "2"] = param("inf", help="norm of the perturbation ball", choices=("inf", "2"))
    spec: Literal["auto", "robust", "outputs"] = param(
        "auto", help="robust: bound the margins y_label - y_j; outputs: bound the raw outputs; "
                     "auto: robust when labels are known", choices=("auto", "robust", "outputs"))
    bab: bool = param(False, help="split the input box until decided (low-dimensional inputs)")
    timeout: float = param(60.0, help="branch-and-bound time limit per sample", unit="s", min=0.0)
    device: Literal["cpu", "cuda"] = param("cpu", help="where to compute", choices=("cpu", "cuda"))
    dtype: Literal["float32", "float64"] = param("float32", help="floating point precision",
                                                 choices=("float32", "float64"))
    radius: bool = param(False, help="also search the certified radius of each sample by bisection")
    max_radius: float = param(0.5, help="upper end of the radius search", min=0.0)
    attack_steps: int = param(50, help="PGD steps of the falsifier (0: clean check only)", min=0, max=10000)
    attack_restarts: int = param(5, help="random restarts of the falsifier", min=0, max=1000)
    batch_size: int = param(128, help="samples bounded together", min=1, max=100000)


@dataclass
class IbpParams(CrownParams):
    pass


@dataclass
class AlphaCrownParams(CrownParams):
    alpha_iters: int = param(20, help="optimisation steps of the relaxation slopes", min=0, max=10000)
    alpha_lr: float = param(0.1, help="learning rate of the slope optimisation (Adam)", min=0.0)


@dataclass
class CertifyJob:
    model: str
    method: str
    params: Any
    vnnlib: str | None = None
    input: str | None = None
    labels: str | None = None
    dataset: str | None = None
    samples: str | None = None
    pde: str | None = None      # the PDE a PINN method certifies (family "pinn")


@dataclass
class RunResult:
    payload: dict
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    summary: dict = field(default_factory=dict)


def _options(job: CertifyJob) -> dict:
    p = job.params
    if job.method == "alpha-crown":
        return {"alpha_iterations": p.alpha_iters, "alpha_lr": p.alpha_lr}
    return {}


def _sample_row(index: int, status: str, lower, upper, cex, radius, **extra) -> dict:
    return {"index": index, "status": status, "lower": [float(v) for v in lower],
            "upper": [float(v) for v in upper],
            "counterexample": None if cex is None else np.asarray(cex, dtype=float).ravel().tolist(),
            "radius": None if radius is None else float(radius), **extra}


def run(job: CertifyJob, *, progress: ProgressFn, cancelled: CancelledFn) -> RunResult:
    """Certify ``job``; every bound is computed with TF32 off and returned on the CPU."""
    if sum(x is not None for x in (job.vnnlib, job.input, job.dataset)) != 1:
        raise ValueError("give exactly one of a VNN-LIB property, an input file or a dataset")
    p = job.params
    device = resolve_device(p.device)
    dtype = torch.float64 if p.dtype == "float64" else torch.float32
    start = time.perf_counter()
    progress(0.0, "loading the network")
    graph = load_network(job.model, device=device, dtype=dtype)
    timing = {"bounds_s": 0.0}
    with torch.no_grad(), sound_math():
        if job.vnnlib is not None:
            rows, arrays, data = _run_vnnlib(job, graph, timing, progress, cancelled)
        else:
            rows, arrays, data = _run_samples(job, graph, timing, progress, cancelled)
    timing["total_s"] = time.perf_counter() - start
    statuses = [r["status"] for r in rows]
    summary = {"samples": len(rows), **{s: statuses.count(s) for s in ("verified", "falsified", "unknown")}}
    summary["verified_fraction"] = summary["verified"] / max(len(rows), 1)
    radii = [r["radius"] for r in rows if r.get("radius") is not None]
    if radii:
        summary["mean_radius"] = float(np.mean(radii))
    if any("correct" in r for r in rows):
        summary["clean_accuracy"] = float(np.mean([r["correct"] for r in rows if "correct" in r]))
    payload = {"method": job.method, "model": str(job.model), "params": params_to_dict(p), "data": data,
               "samples": rows, "summary": summary, "timing": timing,
               "network": {"name": graph.name, "input_shape": list(graph.input_shape),
                           "outputs": graph.num_outputs, "parameters": graph.num_parameters()}}
    progress(1.0, "done")
    return RunResult(payload, arrays, summary)


def _run_vnnlib(job, graph, timing, progress, cancelled):
    p = job.params
    cases = load_cases(graph, job.vnnlib)
    rows = []
    for k, case in enumerate(cases):
        check_cancelled(cancelled)
        lower = torch.as_tensor(case.lower, dtype=graph.dtype, device=graph.device).view(1, *graph.input_shape)
        upper = torch.as_tensor(case.upper, dtype=graph.dtype, device=graph.device).view(1, *graph.input_shape)
        if any(len(b) == 0 for _, b in case.disjuncts):   # an unconstrained unsafe region: any input violates
            rows.append(_sample_row(k, "falsified", [], [], case.lower, None))
            continue
        spec = from_disjuncts(case.disjuncts, graph.dtype, graph.device)
        sub = lambda f, m: progress((k + f) / len(cases), m)  # noqa: E731
        t0 = time.perf_counter()
        if p.spec == "outputs":
            lo, up = compute_bounds(graph, InputSet.box(lower, upper), None, job.method, **_options(job))
        else:
            lo, up = None, None
        if p.bab:
            res = input_bab(graph, lower, upper, spec, job.method, timeout=p.timeout, progress=sub,
                            cancelled=cancelled, **_options(job))
            status, cex = res.status, res.counterexample
            extra = {"boxes": res.boxes_bounded, "worst_lower": res.worst_lower}
            if lo is None:
                lo, up = compute_bounds(graph, InputSet.box(lower, upper), spec.C, job.method, **_options(job))
                lo, up = lo + spec.d, up + spec.d
        else:
            v = verify(graph, InputSet.box(lower, upper), spec, job.method, attack_steps=p.attack_steps,
                       attack_restarts=p.attack_restarts, cancelled=cancelled, **_options(job))
            status, cex, extra = v.status[0], v.counterexamples[0] if v.falsified[0] else None, {}
            if lo is None:
                lo, up = v.lower, v.upper
        timing["bounds_s"] += time.perf_counter() - t0
        rows.append(_sample_row(k, status, lo[0].tolist(), up[0].tolist(),
                                None if cex is None else cex.cpu().numpy(), None, **extra))
    data = {"vnnlib": str(job.vnnlib), "cases": len(cases)}
    return rows, {"status": np.array([r["status"] for r in rows])}, data


def _run_samples(job, graph, timing, progress, cancelled):
    p = job.params
    data = load_samples(graph, input=job.input, labels=job.labels, dataset=job.dataset, samples=job.samples)
    x_all = torch.as_tensor(data.x, dtype=graph.dtype, device=graph.device)
    predictions = graph(x_all).flatten(1).argmax(1)
    labels = torch.as_tensor(data.labels, device=graph.device) if data.labels is not None else predictions
    use_robust = p.spec == "robust" or (p.spec == "auto" and data.labels is not None)
    norm = math.inf if p.norm == "inf" else 2.0
    if p.bab and norm != math.inf:
        raise ValueError("branch and bound splits boxes: use it with --norm inf")
    rows, cex_all, radii_all = [], [], []
    n = len(x_all)
    for b0 in range(0, n, p.batch_size):
        check_cancelled(cancelled)
        sl = slice(b0, min(n, b0 + p.batch_size))
        x, y = x_all[sl], labels[sl]
        inputs = InputSet.ball(x, p.eps, norm, data.clip)
        spec = robustness(y, graph.num_outputs, graph.dtype)
        t0 = time.perf_counter()
        v = verify(graph, inputs, spec, job.method, attack_steps=p.attack_steps,
                   attack_restarts=p.attack_restarts, cancelled=cancelled, **_options(job))
        status = list(v.status)
        if p.bab:
            for i in [i for i, s in enumerate(status) if s == "unknown"]:
                res = input_bab(graph, inputs.lower[i:i + 1], inputs.upper[i:i + 1], spec.select([i]),
                                job.method, timeout=p.timeout, cancelled=cancelled, **_options(job))
                status[i] = res.status
                if res.counterexample is not None:
                    v.counterexamples[i] = res.counterexample
        lo, up = (v.lower, v.upper) if use_robust else compute_bounds(graph, inputs, None, job.method, **_options(job))
        radius = None
        if p.radius:
            radius = certified_radius(graph, x, spec, norm=norm, clip=data.clip, method=job.method,
                                      max_radius=p.max_radius, cancelled=cancelled, **_options(job)).tolist()
        timing["bounds_s"] += time.perf_counter() - t0
        for i in range(x.shape[0]):
            extra = {"prediction": int(predictions[sl][i])}
            if data.labels is not None:
                extra["label"] = int(y[i])
                extra["correct"] = bool(predictions[sl][i] == y[i])
            cex = v.counterexamples[i].cpu().numpy() if status[i] == "falsified" else None
            rows.append(_sample_row(data.indices[b0 + i], status[i], lo[i].tolist(), up[i].tolist(), cex,
                                    None if radius is None else radius[i], **extra))
            cex_all.append(cex if cex is not None else np.full(graph.input_shape, np.nan))
        progress(min(n, b0 + p.batch_size) / n, f"{min(n, b0 + p.batch_size)}/{n} samples")
    arrays = {"lower": np.array([r["lower"] for r in rows]), "upper": np.array([r["upper"] for r in rows]),
              "counterexamples": np.stack(cex_all), "indices": np.array(data.indices)}
    if p.radius:
        arrays["radius"] = np.array([r["radius"] for r in rows])
    info = {**data.description, "eps": p.eps, "norm": p.norm, "clip": data.clip,
            "spec": "robust" if use_robust else "outputs"}
    return rows, arrays, info
