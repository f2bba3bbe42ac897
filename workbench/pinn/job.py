"""The registry's PINN method: certify a network against a PDE as a stored run.

Parameters become the CLI flags of ``workbench pinn certify`` and the GUI's form. The payload
and arrays are what the PINN views and the report read (see `payload`).
"""
from __future__ import annotations

import time
from typing import Literal

import numpy as np
import torch
from dataclasses import dataclass

from workbench.jobs.registry import param, params_to_dict
from workbench.runtime import CancelledFn, ProgressFn, resolve_device, sound_math

from .certify import PARTS, PartResult, Settings, certify_pinn
from .certify.network import load_pinn
from .pdes import get_pde


AUTO_BATCH = {"cpu": 1024, "cuda": 16384}   # a GPU needs many boxes per call to be busy


@dataclass
class PinnParams:
    target_ratio: float = param(1.1, help="stop refining a part once its bound is within this factor of the "
                                          "empirical maximum", min=1.0)
    time_budget: float = param(120.0, help="time for all parts together (the conditions get up to 15 % each, "
                                           "the residual the rest)", unit="s", min=0.0)
    max_boxes: int = param(200_000, help="most sub-boxes per part", min=1, max=50_000_000)
    sample_points: int = param(1_000_000, help="uniform random points for each empirical maximum", min=1,
                         max=100_000_000)
    parts: Literal["all", "residual", "initial", "boundary"] = param(
        "all", help="what to certify", choices=("all", "residual", "initial", "boundary"))
    relaxation: Literal["auto", "crown", "forward"] = param(
        "auto", help="hidden-layer bounds: crown (∂-CROWN backward passes), forward (forward-mode linear "
                     "bounds: half the cost, looser on large boxes) or auto (forward on small boxes only)",
        choices=("auto", "crown", "forward"))
    batch_size: int = param(0, help="sub-boxes bounded together (0: 1024 on a CPU, 16384 on a GPU)", min=0,
                            max=1_000_000, min_label="auto")
    device: Literal["cpu", "cuda"] = param("cpu", help="where to compute", choices=("cpu", "cuda"))
    dtype: Literal["float32", "float64"] = param(
        "float32", help="precision of the intermediate passes (relaxations and the output pass are "
                        "always float64)", choices=("float32", "float64"))
    seed: int = param(0, help="seed of the empirical sample", min=0)


def run(job, *, progress: ProgressFn, cancelled: CancelledFn):
    """Certify `job.model` against `job.pde` (a `workbench.jobs.certify.CertifyJob`)."""
    from workbench.jobs.certify import RunResult

    if not job.pde:
        raise ValueError("a PINN run needs a PDE (--pde NAME)")
    p: PinnParams = job.params
    pde = get_pde(job.pde)
    device = resolve_device(p.device)
    start = time.perf_counter()
    progress(0.0, "loading the network")
    graph, net = load_pinn(job.model, pde, device)
    settings = Settings(target_ratio=p.target_ratio, time_budget=p.time_budget, max_boxes=p.max_boxes,
                        samples=p.sample_points, batch=p.batch_size or AUTO_BATCH[device.type], method=p.relaxation,
                        dtype=torch.float64 if p.dtype == "float64" else torch.float32, seed=p.seed)
    parts = PARTS if p.parts == "all" else (p.parts,)
    with sound_math():
        results, history = certify_pinn(net, pde, settings, parts=parts, progress=progress, cancelled=cancelled)
    total = time.perf_counter() - start
    body = {name: r.to_dict() for name, r in results.items()}
    summary = {}
    for name, r in sorted(results.items(), key=lambda kv: PARTS.index(kv[0])):   # residual first
        summary[f"{name}_bound"] = r.bound
        summary[f"{name}_empirical"] = r.empirical.value
    payload = {"method": job.method, "model": str(job.model), "params": params_to_dict(p), "data": {"pde": pde.name},
               "pde": pde.describe(), **body, "summary": summary,
               "timing": {"total_s": total, "bounds_s": sum(r.time_s for r in results.values())},
               "network": {"name": graph.name, "parameters": graph.num_parameters(),
                           "input_order": list(net.input_order), "relu_output": net.relu_output},
               "samples": []}
    progress(1.0, "done")
    return RunResult(payload, arrays(results, history), summary)


def arrays(results: dict[str, PartResult], history) -> dict[str, np.ndarray]:
    """Leaves and their bounds per part, in (t, x) order, plus the convergence history."""
    out: dict[str, np.ndarray] = {"history": np.asarray(history, dtype=np.float64).reshape(-1, 4)}
    if "residual" in results:
        r = results["residual"]
        out["residual_boxes"] = np.stack([r.lower, r.upper], 1)
        out["residual_bound"] = r.box_bound
    if "initial" in results:
        r = results["initial"]
        out["initial_boxes"] = np.concatenate([r.lower, r.upper], 1)
        out["initial_bound"] = r.box_bound
    if "boundary" in results:
        conds = results["boundary"].conditions
        out["boundary_boxes"] = np.concatenate([np.concatenate([c.lower, c.upper], 1) for c in conds.values()])
        out["boundary_bound"] = np.concatenate([c.box_bound for c in conds.values()])
        out["boundary_condition"] = np.concatenate([np.full(c.boxes, i, dtype=np.int64)
                                                    for i, c in enumerate(conds.values())])
    return out
