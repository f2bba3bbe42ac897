"""The smoothing job's result: one row per sample, a summary, and the arrays (npz beside the JSON).

Row keys (the views rely on them): index, status ("certified"/"abstain"), prediction (-1 on
abstain), label (None without labels), correct, radius (the largest certified ball, 0 on abstain),
p_lower; ANCER/RANCER add proxy_radius, log_volume (None on abstain), parameters (a row of the
"sigma" array), rotation (RANCER, a row of "rotation") and memory ("kept"/"shrunk"/"rejected").
Radius, proxy radius and log-volume are those of the final certificate, after the memory step
(a shrunk certificate is a ball). "sigma" holds the noise parameters the certificate was
computed with; the region before the memory step is sigma * gap, where gap = Phi^-1(p_lower)
(norm 2) or 2 (p_lower - 1/2) (norm 1).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..jobs.registry import params_to_dict
from . import stats


def _summary(rows: list[dict], n_classes_known: bool, extra: dict) -> dict:
    n = len(rows)
    certified = [r for r in rows if r["status"] == "certified"]
    radii = np.array([r["radius"] for r in certified]) if certified else np.zeros(0)
    summary: dict[str, Any] = {
        "samples": n, "certified": len(certified), "abstain": n - len(certified),
        "certified_accuracy": (float(np.mean([r["correct"] for r in rows])) if n else 0.0)
        if n_classes_known else None,
        "mean_radius": float(radii.mean()) if radii.size else 0.0,
    }
    if n_classes_known:
        # the literature's average certified radius: radius of correct certificates, 0 otherwise
        summary["acr"] = float(np.mean([r["radius"] if r["correct"] else 0.0 for r in rows])) if n else 0.0
    summary.update(extra)
    return summary


def assemble(job: Any, graph: Any, data: Any, result: dict, clean: np.ndarray, timing: dict,
             warnings: list[str]) -> tuple[dict, dict, dict]:
    p = job.params
    n = len(data.x)
    d = int(np.prod(graph.input_shape))
    labels = data.labels
    prediction = np.asarray(result["prediction"], dtype=np.int64)
    memory = result.get("memory")
    data_dependent = memory is not None
    semi = np.asarray(result["theta"], dtype=np.float64) * np.asarray(result["gap"])[:, None]
    if data_dependent:
        rejected = np.array([m == "rejected" for m in memory], dtype=bool)
        prediction = np.where(rejected, -1, prediction)
        semi = np.where(prediction[:, None] >= 0, result["semi_final"], 0.0)
    semi = np.where(prediction[:, None] >= 0, semi, 0.0)
    measures = stats.region_measures(semi, p.norm)
    rows = []
    for i in range(n):
        label = None if labels is None else int(labels[i])
        certified = prediction[i] >= 0
        row = {"index": int(data.indices[i]), "status": "certified" if certified else "abstain",
               "prediction": int(prediction[i]), "label": label,
               "correct": bool(certified and label is not None and prediction[i] == label),
               "radius": float(measures["radius"][i]), "p_lower": float(result["p_lower"][i])}
        if data_dependent:
            row.update(proxy_radius=float(measures["proxy_radius"][i]),
                       # None on abstain (the array holds -inf): JSON has no infinities
                       log_volume=float(measures["log_volume"][i]) if certified else None,
                       parameters={"array": "sigma", "row": i})
            if job.method == "rancer":
                row["rotation"] = {"array": "rotation", "row": i}
            row["memory"] = memory[i]
        rows.append(row)
    arrays: dict[str, np.ndarray] = {
        "inputs": np.asarray(data.x, dtype=np.float32), "indices": np.asarray(data.indices, dtype=np.int64),
        "labels": np.full(n, -1, np.int64) if labels is None else np.asarray(labels, dtype=np.int64),
        "predictions": prediction, "base_predictions": clean.astype(np.int64),
        "radius": measures["radius"], "p_lower": np.asarray(result["p_lower"], dtype=np.float64),
        "sigma": np.asarray(result["theta"], dtype=np.float64).reshape(n, d),
        "proxy_radius": measures["proxy_radius"], "log_volume": measures["log_volume"]}
    extra: dict[str, Any] = {}
    if data_dependent:
        dd = result["dd"]
        arrays.update(isotropic_sigma=dd.sigma_star, isotropic_radius=dd.sigma_star * dd.iso_gap,
                      used_isotropic=dd.used_isotropic)
        if dd.rotation is not None:   # float32: a d x d basis per input adds up (4 MB at d = 1024)
            arrays.update(rotation=dd.rotation.astype(np.float32), hessian_eigvals=dd.eigvals,
                          hessian_eigvecs=dd.eigvecs.astype(np.float32))
        extra = {"shrunk": memory.count("shrunk"), "rejected": memory.count("rejected"),
                 "mean_proxy_radius": float(measures["proxy_radius"][prediction >= 0].mean())
                 if (prediction >= 0).any() else 0.0}
    if labels is not None and n:
        extra["base_accuracy"] = float((clean == labels).mean())
    summary = _summary(rows, labels is not None, extra)
    info = {**data.description, "sigma": p.sigma, "norm": p.norm,
            "noise": "gaussian" if p.norm == "2" else "uniform (sigma = half-width)"}
    if data_dependent:
        info["memory_order"] = [int(i) for i in data.indices]   # the certificates depend on it
    payload = {"method": job.method, "model": str(job.model), "params": params_to_dict(p), "data": info,
               "samples": rows, "summary": summary, "timing": timing,
               "network": {"name": graph.name, "input_shape": list(graph.input_shape),
                           "outputs": graph.num_outputs, "parameters": graph.num_parameters()}}
    if warnings:
        payload["warnings"] = warnings
    return payload, arrays, summary
