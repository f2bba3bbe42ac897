"""The smoothing certification job: Cohen et al., ANCER and RANCER over a dataset or input array.

``run(job, *, progress, cancelled) -> RunResult`` as every family's job. The data-dependent
methods (ANCER, RANCER) finish with the memory pass over the samples in their listed order, so
the certificates of one run are sound together (notes section 3); the order is stored with the
run. Noise is drawn on the job's device from a seeded generator, so a run is reproducible.
"""
from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import torch

from ..jobs.certify import CertifyJob, RunResult
from ..jobs.certify_inputs import load_samples
from ..nets.loading import load_network
from ..runtime import CancelledFn, ProgressFn, check_cancelled, resolve_device, sound_math
from . import cohen
from .ancer import certify_data_dependent, optimise
from .hessian import EXACT_MAX_DIM
from .memory import memory_pass
from .optimize import OptimSettings
from .params import AncerParams, RancerParams, SmoothingParams
from .results import assemble
from .sampling import auto_batch_size, noise_for

DATA_DEPENDENT = ("ancer", "rancer")


class Tracker:
    """Work units done -> ``progress`` (throttled to ~20 per second), with a cancel check per call."""

    def __init__(self, progress: ProgressFn, cancelled: CancelledFn, total: float, start: float = 0.02):
        self.progress, self.cancelled = progress, cancelled
        self.total, self.done, self.start = max(total, 1.0), 0.0, start
        self.message, self._last = "", 0.0

    def __call__(self, units: float = 1.0) -> None:
        check_cancelled(self.cancelled)
        self.done += units
        now = time.monotonic()
        if now - self._last >= 0.05:
            self._last = now
            self.progress(self.start + (0.97 - self.start) * min(1.0, self.done / self.total), self.message)


def training_sigma(model: str) -> float | None:
    """The noise level a sample model was trained with (its manifest's "sigma"), if recorded."""
    manifest = Path(model).with_name("manifest.json")
    try:
        value = json.loads(manifest.read_text(encoding="utf-8")).get("sigma")
    except (OSError, ValueError, AttributeError):
        return None
    return float(value) if isinstance(value, (int, float)) else None


def run(job: CertifyJob, *, progress: ProgressFn, cancelled: CancelledFn) -> RunResult:
    """Certify ``job.params.n`` noise draws per sample; results return on the CPU."""
    p: SmoothingParams = job.params
    if getattr(job, "vnnlib", None) is not None:
        raise ValueError("randomized smoothing certifies samples: give --dataset or --input, not --vnnlib")
    if job.input is None and job.dataset is None:
        raise ValueError("give a dataset or an input file")
    if job.method in DATA_DEPENDENT and not isinstance(p, AncerParams):
        raise ValueError(f"method {job.method!r} needs its own parameters (AncerParams/RancerParams)")
    device = resolve_device(p.device)
    start = time.perf_counter()
    progress(0.0, "loading the network")
    graph = load_network(job.model, device=device)
    data = load_samples(graph, input=job.input, labels=job.labels, dataset=job.dataset, samples=job.samples)
    x = torch.as_tensor(data.x, dtype=graph.dtype, device=device)
    generator = torch.Generator(device=device).manual_seed(p.seed)
    kind = "gaussian" if p.norm == "2" else "uniform"
    warnings = []
    trained = training_sigma(job.model)
    if trained is not None and p.norm == "2" and abs(trained - p.sigma) > 1e-9:
        warnings.append(f"the model was trained with noise sigma {trained:g}; smoothing uses {p.sigma:g}")
    if p.batch_size == 0:   # the run records the size it used
        p = dataclasses.replace(p, batch_size=auto_batch_size(graph, device))
        job = dataclasses.replace(job, params=p)
    timing: dict[str, float] = {}
    with sound_math():
        with torch.no_grad():
            clean = graph(x).reshape(len(x), -1).argmax(1).cpu().numpy()
        if job.method in DATA_DEPENDENT:
            result = _data_dependent(job.method, graph, x, p, kind, generator, timing, progress, cancelled)
        else:
            result = _cohen(graph, x, p, kind, generator, timing, progress, cancelled)
    timing["total_s"] = time.perf_counter() - start
    payload, arrays, summary = assemble(job, graph, data, result, clean, timing, warnings)
    progress(1.0, "done")
    return RunResult(payload, arrays, summary)


def _cohen(graph, x, p, kind, generator, timing, progress, cancelled) -> dict:
    n = x.shape[0]
    track = Tracker(progress, cancelled, n * (p.n0 + p.n))
    track.message = f"certifying {n} samples ({p.n0} + {p.n} draws each)"
    t0 = time.perf_counter()
    sigma = torch.full((n,), p.sigma, dtype=x.dtype, device=x.device)
    cert = cohen.certify(graph, x, noise_for(kind, sigma), graph.num_outputs, n0=p.n0, n=p.n,
                         alpha=p.alpha, norm=p.norm, batch_size=p.batch_size, generator=generator,
                         on_batch=track)
    timing["certify_s"] = time.perf_counter() - t0
    d = x[0].numel()
    return {"prediction": cert.prediction, "p_lower": cert.p_lower, "gap": cert.gap,
            "theta": np.full((n, d), p.sigma), "memory": None}


def _data_dependent(method, graph, x, p: AncerParams, kind, generator, timing, progress, cancelled) -> dict:
    n, d = x.shape[0], x[0].numel()
    rancer = method == "rancer" and isinstance(p, RancerParams)
    settings = OptimSettings(p.iso_iterations, p.iso_lr, p.aniso_iterations, p.aniso_lr,
                             p.opt_samples, p.kappa,
                             (p.clamp_low, p.clamp_high) if rancer else None)
    group = max(1, p.batch_size // p.opt_samples)
    groups = -(-n // group)
    # An optimisation step is a forward and backward pass of group * M rows: about three forwards.
    opt_units = 3.0 * groups * group * p.opt_samples * (p.iso_iterations + p.aniso_iterations)
    cert_units = n * (p.n0 + p.n) * (2 if p.keep_isotropic else 1)
    track = Tracker(progress, cancelled, opt_units + cert_units)
    step_units = 3.0 * group * p.opt_samples
    track.message = f"optimising the smoothing of {n} samples"
    t0 = time.perf_counter()
    sigma_star, theta, eigen = optimise(
        graph, x, p.sigma, kind, settings, group=group, generator=generator,
        step=lambda: track(step_units), hessian_rank=p.hessian_rank if rancer else None,
        hessian_exact_dim=p.hessian_exact_dim if rancer else EXACT_MAX_DIM)
    timing["optimize_s"] = time.perf_counter() - t0
    track.message = f"certifying {n} samples ({p.n0} + {p.n} draws each)"
    t0 = time.perf_counter()
    dd = certify_data_dependent(graph, x, sigma_star, theta, graph.num_outputs, kind=kind, norm=p.norm,
                                n0=p.n0, n=p.n, alpha=p.alpha, batch_size=p.batch_size,
                                keep_isotropic=p.keep_isotropic, generator=generator, eigen=eigen,
                                on_batch=track)
    timing["certify_s"] = time.perf_counter() - t0
    track.message = "memory pass"
    t0 = time.perf_counter()
    status, semi_final = memory_pass(x.reshape(n, d), dd.prediction, dd.theta * dd.gap[:, None],
                                     dd.rotation, p.norm, step=lambda: check_cancelled(cancelled))
    timing["memory_s"] = time.perf_counter() - t0
    return {"prediction": dd.prediction, "p_lower": dd.p_lower, "gap": dd.gap, "theta": dd.theta,
            "memory": status, "semi_final": semi_final, "dd": dd}
