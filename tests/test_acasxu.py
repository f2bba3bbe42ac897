"""ACAS Xu (VNN-COMP) against the published verdicts: a known-SAT instance is never verified, and
counterexamples are checked by onnxruntime on the original file."""
from __future__ import annotations

import csv

import numpy as np
import onnxruntime as ort
import pytest
import torch

from workbench.bounds.bab import input_bab
from workbench.bounds.sets import InputSet
from workbench.bounds.specs import from_disjuncts
from workbench.bounds.verify import compute_bounds, verify
from workbench.data.vnnlib import parse_vnnlib
from workbench.nets.loading import load_network


def known_results(acas) -> dict[tuple[str, str], str]:
    with open(acas / "known_results.csv") as f:
        return {(r["network"], r["property"]): r["true_result"] for r in csv.DictReader(f)}


def instance(acas, net: str, prop: int):
    path = acas / f"ACASXU_run2a_{net}_batch_2000.onnx"
    graph = load_network(path)
    [case] = parse_vnnlib(acas / f"prop_{prop}.vnnlib")
    box = [torch.as_tensor(b, dtype=torch.float32).view(1, *graph.input_shape) for b in (case.lower, case.upper)]
    return path, graph, case, box, from_disjuncts(case.disjuncts)


def onnx_outputs(path, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.stack([sess.run(None, {"input": xi.reshape(1, 1, 1, 5).astype(np.float32)})[0][0] for xi in x])


SAT = [("1_2", 2), ("2_1", 2), ("1_9", 3), ("1_9", 4)]


@pytest.mark.parametrize("net, prop", SAT)
def test_known_sat_instances_are_never_verified_and_falsified_with_real_counterexamples(shared_dir, net, prop):
    acas = shared_dir / "vnncomp" / "acasxu"
    assert known_results(acas)[(f"ACASXU_run2a_{net}_batch_2000", f"prop_{prop}")] == "sat"
    path, graph, case, (lo, up), spec = instance(acas, net, prop)
    for method in ("ibp", "crown", "alpha-crown"):
        v = verify(graph, InputSet.box(lo, up), spec, method, alpha_iterations=5)
        assert v.status[0] != "verified"
    res = input_bab(graph, lo, up, spec, "crown", timeout=30)
    assert res.status == "falsified"
    cex = res.counterexample.numpy().reshape(-1)
    assert (cex >= case.lower - 1e-7).all() and (cex <= case.upper + 1e-7).all()
    assert case.is_unsafe(onnx_outputs(path, cex[None]))[0]


@pytest.mark.parametrize("net, prop", [("1_9", 1)])
def test_known_unsat_instances_are_verified_by_branch_and_bound(shared_dir, net, prop):
    acas = shared_dir / "vnncomp" / "acasxu"
    assert known_results(acas)[(f"ACASXU_run2a_{net}_batch_2000", f"prop_{prop}")] == "unsat"
    _, graph, _, (lo, up), spec = instance(acas, net, prop)
    res = input_bab(graph, lo, up, spec, "crown", timeout=120)
    assert res.status == "verified" and res.worst_lower > 0


def test_crown_bounds_contain_onnxruntime_outputs_over_the_property_box(shared_dir):
    acas = shared_dir / "vnncomp" / "acasxu"
    path, graph, case, (lo, up), _ = instance(acas, "1_1", 3)
    rng = np.random.default_rng(0)
    x = case.lower + (case.upper - case.lower) * rng.random((400, 5))
    y = onnx_outputs(path, x)
    for method in ("ibp", "crown", "alpha-crown"):
        blo, bup = compute_bounds(graph, InputSet.box(lo, up), None, method, alpha_iterations=5)
        assert (y >= blo.numpy() - 1e-5).all() and (y <= bup.numpy() + 1e-5).all()
