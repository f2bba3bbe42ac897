"""Smoothing-family runs for the view and report tests, stored through ``RunStore`` the way a
finished job stores them, without depending on the smoothing package.

The certificates are real, only small: p̲_A is the Clopper–Pearson lower bound of a Monte-Carlo
count under the run's own noise (isotropic, axis-aligned ANCER-style σ, or rotated RANCER-style
σ in the eigenbasis of the input Hessian of the cross-entropy loss), so what the views draw is what
such a run would certify. The σ choices are not optimised; they only need to be anisotropic.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
from scipy.stats import beta
from scipy.stats import norm as normal

from workbench.data.datasets import load_dataset
from workbench.data.samples import list_sample_models
from workbench.jobs import registry
from workbench.jobs.registry import Method, param
from workbench.jobs.store import RunStore
from workbench.nets.loading import load_network

VIEWS = ("smoothing_toy2d", "smoothing_accuracy", "smoothing_hessian", "smoothing_sigma_image")


@dataclass
class FakeSmoothingParams:
    sigma: float = param(0.25, help="noise level", unit="input units", min=0.0)
    norm: str = param("2", help="certificate norm", choices=("2", "1"))
    n0: int = param(64, help="selection samples", min=1)
    n: int = param(400, help="estimation samples", min=1)
    alpha: float = param(0.001, help="failure probability", min=0.0, max=1.0)


def _never(*args, **kwargs):  # the fake methods are never run, only shown
    raise NotImplementedError


def ensure_methods() -> list[str]:
    """Register stand-ins for smoothing/ancer/rancer unless the real ones exist; returns the names
    registered here (to unregister afterwards)."""
    added = []
    for name in ("smoothing", "ancer", "rancer"):
        try:
            registry.get_method(name)
        except registry.UnknownMethodError:
            registry.register(Method(name, name.upper(), "smoothing", FakeSmoothingParams, _never, VIEWS,
                                     "test stand-in"))
            added.append(name)
    return added


def model_path(name: str) -> str:
    return str(next(m["weights"] for m in list_sample_models() if m["name"] == name))


def clopper_pearson_lower(k: int, n: int, alpha: float) -> float:
    return 0.0 if k == 0 else float(beta.ppf(alpha, k, n - k + 1))


def loss_hessian(graph, x: np.ndarray, label: int) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (descending |λ|) and eigenvectors (rows) of ∇²ₓ CE(f(x), label)."""
    def loss(z):
        return torch.nn.functional.cross_entropy(graph(z[None]).flatten(1), torch.tensor([label]))

    h = torch.autograd.functional.hessian(loss, torch.as_tensor(x, dtype=torch.float32)).reshape(x.size, x.size)
    vals, vecs = np.linalg.eigh(((h + h.T) / 2).double().numpy())
    order = np.argsort(-np.abs(vals))
    return vals[order], vecs[:, order].T


def make_smoothing_run(store: RunStore, method: str, *, model: str = "moons_relu_mlp", dataset: str = "moons",
                       samples: str = "0:200:10", sigma: float = 0.3, norm: str = "2", n: int = 400,
                       seed: int = 0, shrink_row: int | None = None) -> str:
    rng = np.random.default_rng(seed)
    graph = load_network(model_path(model))
    data = load_dataset(dataset)
    start, stop, step = (int(v) for v in samples.split(":"))
    idx = list(range(start, stop, step))
    x, y = data.x[idx].astype(np.float32), data.y[idx]
    d = int(np.prod(x.shape[1:]))
    alpha = 0.001
    rows, sig_rows, rot_rows, eigvals, eigvecs = [], [], [], [], []
    for i, (xi, yi) in enumerate(zip(x, y)):
        flat = xi.reshape(-1)
        vals, vecs = loss_hessian(graph, xi, int(yi)) if d <= 64 else (np.zeros(d), np.eye(d))
        rot = vecs.T if method == "rancer" else np.eye(d)  # columns = axes
        sig = np.full(d, sigma) if method == "smoothing" else sigma * rng.uniform(0.8, 1.6, d)
        eps = rng.standard_normal((n, d)) if norm == "2" else rng.uniform(-1, 1, (n, d))
        noisy = flat[None] + (eps * sig) @ rot.T
        with torch.no_grad():
            votes = graph(torch.as_tensor(noisy.reshape(n, *xi.shape), dtype=torch.float32)).argmax(1).numpy()
        counts = np.bincount(votes, minlength=graph.num_outputs)
        top = int(counts.argmax())
        p_lower = clopper_pearson_lower(int(counts[top]), n, alpha)
        gap = (normal.ppf(p_lower) if norm == "2" else 2 * (p_lower - 0.5)) if p_lower > 0.5 else 0.0
        status = "certified" if gap > 0 else "abstain"
        radius = float(gap * sig.min()) if gap > 0 else 0.0
        row = {"index": idx[i], "status": status, "prediction": top if gap > 0 else -1, "label": int(yi),
               "correct": bool(gap > 0 and top == yi), "radius": radius, "p_lower": p_lower,
               "parameters": {"array": "sigma", "row": i}}
        if method != "smoothing":
            row["proxy_radius"] = float(gap * np.exp(np.mean(np.log(sig)))) if gap > 0 else 0.0
            row["log_volume"] = float(np.log(np.pi) + np.sum(np.log(sig * gap))) if gap > 0 and d == 2 else None
            row["memory"] = "kept"
        if method == "rancer":
            row["rotation"] = {"array": "rotation", "row": i}
        if i == shrink_row and status == "certified":
            row.update(memory="shrunk", radius=radius / 2)
            if "proxy_radius" in row:
                row["proxy_radius"] = radius / 2
        rows.append(row)
        sig_rows.append(sig)
        rot_rows.append(rot)
        eigvals.append(vals)
        eigvecs.append(vecs)
    certified = [r for r in rows if r["status"] == "certified"]
    summary = {"samples": len(rows), "certified": len(certified), "abstain": len(rows) - len(certified),
               "certified_accuracy": float(np.mean([r["correct"] for r in rows])),
               "mean_radius": float(np.mean([r["radius"] for r in rows]))}
    params = dataclasses.asdict(FakeSmoothingParams(sigma=sigma, norm=norm, n=n))
    description = {"dataset": dataset, "classes": data.classes, "samples": samples, "sigma": sigma, "norm": norm}
    payload = {"method": method, "model": model_path(model), "params": params, "data": description,
               "samples": rows, "summary": summary, "timing": {"total_s": 0.5},
               "network": {"name": model, "input_shape": list(graph.input_shape), "outputs": graph.num_outputs,
                           "parameters": graph.num_parameters()}}
    arrays = {"inputs": x, "labels": y, "predictions": np.array([r["prediction"] for r in rows]),
              "radius": np.array([r["radius"] for r in rows]), "sigma": np.array(sig_rows)}
    if method == "rancer":
        arrays.update(rotation=np.array(rot_rows), hessian_eigvals=np.array(eigvals),
                      hessian_eigvecs=np.array(eigvecs))
    if method != "smoothing":
        arrays["proxy_radius"] = np.array([r.get("proxy_radius", 0.0) for r in rows])
    spec = {"method": method, "model": model_path(model), "data": {"dataset": dataset, "samples": samples},
            "params": params}
    run_id = store.create(method, "smoothing", spec, f"workbench certify --method {method} --model {model}",
                          title=f"{method} · {model}", environment={"torch": torch.__version__})
    store.start(run_id)
    store.finish(run_id, payload, arrays, summary)
    return run_id
