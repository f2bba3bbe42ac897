"""Exact region geometry (overlap tests, distance bounds) against dense sampling, and the memory
step that keeps data-dependent certificates sound."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from workbench.smoothing import regions
from workbench.smoothing.memory import Memory



@pytest.fixture(autouse=True)
def float64():
    """The geometry runs in float64; the default dtype is restored for the other tests."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def _rotation(angle: torch.Tensor) -> torch.Tensor:
    c, s = torch.cos(angle), torch.sin(angle)
    return torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)  # columns = axes


def _random_pairs(m: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    centre = (torch.rand((2, m, 2), generator=g) * 4 - 2)
    semi = torch.rand((2, m, 2), generator=g) * 1.3 + 0.2
    rot = _rotation(torch.rand((2, m), generator=g) * math.pi)
    return centre, semi, rot


def _points_of(centre, semi, rot, norm: str, k: int = 151):
    """Dense points filling each region a: [M, P, 2] (grid of the unit ball mapped into it)."""
    t = torch.linspace(-1, 1, k)
    z = torch.stack(torch.meshgrid(t, t, indexing="ij"), -1).reshape(-1, 2)
    keep = (z.norm(dim=1) <= 1) if norm == "2" else (z.abs().sum(1) <= 1)
    z = z[keep]
    local = z[None] * semi[:, None, :]
    if rot is not None:
        local = torch.einsum("mij,mpj->mpi", rot, local)
    return centre[:, None, :] + local


def _gauge_many(points, centre, semi, rot, norm: str):
    y = points - centre[:, None, :]
    if rot is not None:
        y = torch.einsum("mij,mpi->mpj", rot, y)
    y = y / semi[:, None, :]
    return y.norm(dim=2) if norm == "2" else y.abs().sum(2)


@pytest.mark.parametrize("rotated", [False, True])
def test_ellipsoid_overlap_matches_dense_sampling(rotated):
    centre, semi, rot = _random_pairs(400, seed=3 + rotated)
    ra = rot[0] if rotated else None
    rb = rot[1] if rotated else None
    # smallest gauge of b over dense points of a: < 1 proves overlap; well above 1, disjoint
    g = _gauge_many(_points_of(centre[0], semi[0], ra, "2"), centre[1], semi[1], rb, "2").min(1).values
    exact = regions.ellipsoids_overlap(centre[1], semi[1], rb, centre[0], semi[0], ra)  # pairwise rows
    sure_in, sure_out = g < 0.99, g > 1.03
    assert sure_in.sum() > 60 and sure_out.sum() > 60
    assert exact[sure_in].all() and not exact[sure_out].any()
    # batched call (one b against all a) agrees with the per-pair calls where b is the same
    batch = regions.ellipsoids_overlap(centre[1, 0], semi[1, 0], None if rb is None else rb[0],
                                       centre[0], semi[0], ra)
    g0 = _gauge_many(_points_of(centre[0], semi[0], ra, "2"), centre[1, :1].expand(400, 2),
                     semi[1, :1].expand(400, 2), None if rb is None else rb[:1].expand(400, 2, 2), "2")
    g0 = g0.min(1).values
    assert batch[g0 < 0.99].all() and not batch[g0 > 1.03].any()


def test_axis_aligned_and_rotated_paths_agree():
    centre, semi, _ = _random_pairs(300, seed=9)
    eye = torch.eye(2).expand(300, 2, 2)
    diag = regions.ellipsoids_overlap(centre[1, 0], semi[1, 0], None, centre[0], semi[0], None)
    full = regions.ellipsoids_overlap(centre[1, 0], semi[1, 0], torch.eye(2), centre[0], semi[0], eye)
    assert torch.equal(diag, full)


def test_cross_polytope_overlap_matches_dense_sampling():
    centre, semi, _ = _random_pairs(400, seed=5)
    g = _gauge_many(_points_of(centre[0], semi[0], None, "1"), centre[1], semi[1], None, "1").min(1).values
    exact = regions.cross_polytopes_overlap(centre[1], semi[1], centre[0], semi[0])
    sure_in, sure_out = g < 0.99, g > 1.03
    assert sure_in.sum() > 60 and sure_out.sum() > 60
    assert exact[sure_in].all() and not exact[sure_out].any()


@pytest.mark.parametrize("norm, rotated", [("2", False), ("2", True), ("1", False)])
def test_distance_lower_bound_is_below_and_close_to_the_sampled_distance(norm, rotated):
    centre, semi, rot = _random_pairs(200, seed=11)
    ra = rot[0] if rotated else None
    point = centre[1, 0] * 2.5
    lb = regions.distance_lower_bound(point, centre[0], semi[0], ra, norm)
    # dense boundary points: the sampled minimum distance is >= the true one
    phi = torch.linspace(0, 2 * math.pi, 20001)
    circle = torch.stack([torch.cos(phi), torch.sin(phi)], 1)
    unit = circle if norm == "2" else circle / circle.abs().sum(1, keepdim=True)
    local = unit[None] * semi[0][:, None, :]
    if ra is not None:
        local = torch.einsum("mij,mpj->mpi", ra, local)
    boundary = centre[0][:, None, :] + local
    sampled = (boundary - point).norm(p=2 if norm == "2" else 1, dim=2).min(1).values
    inside = regions.gauge(point, centre[0], semi[0], ra, norm) <= 1
    sampled = torch.where(inside, torch.zeros_like(sampled), sampled)
    assert (lb <= sampled + 1e-12).all()
    assert (lb >= sampled - 2e-3 * (1 + sampled)).all()
    assert (lb[inside] == 0).all() and (~inside).sum() > 150


def _ball(r: float) -> torch.Tensor:
    return torch.full((2,), r)


@pytest.mark.parametrize("norm", ["2", "1"])
def test_memory_rejects_keeps_and_shrinks(norm):
    mem = Memory(2, norm)
    mem.store(torch.zeros(2), 0, _ball(1.0))                  # planted: class 0, radius 1 at 0
    # centre inside a certificate of another class: rejected, nothing stored
    got = mem.admit(torch.tensor([0.5, 0.0]), 1, _ball(0.2))
    assert got.status == "rejected" and mem.size == 1 and float(got.semi.max()) == 0
    # disjoint from it: kept as it is
    got = mem.admit(torch.tensor([3.0, 0.0]), 1, torch.tensor([0.5, 1.5]))
    assert got.status == "kept" and got.semi.tolist() == [0.5, 1.5] and mem.size == 2
    # same class as the planted one, overlapping it: no conflict
    assert mem.admit(torch.tensor([0.8, 0.0]), 0, _ball(0.5)).status == "kept"
    # another class whose region reaches into the planted ball: shrunk to the distance 0.8
    got = mem.admit(torch.tensor([0.0, -1.8]), 1, _ball(1.5))
    assert got.status == "shrunk"
    assert 0.8 * (1 - 2e-6) <= float(got.semi[0]) <= 0.8 and torch.equal(got.semi, got.semi[:1].expand(2))


def test_memory_with_rotated_ellipsoids():
    mem = Memory(2, "2", rotated=True)
    rot = _rotation(torch.tensor(math.pi / 4))
    mem.store(torch.zeros(2), 0, torch.tensor([2.0, 0.3]), rot)   # long thin ellipse along (1, 1)
    # on the ellipse's long axis: inside, rejected; across it: clear of the thin side
    assert mem.admit(torch.tensor([1.2, 1.2]), 1, _ball(0.1), rot).status == "rejected"
    assert mem.admit(torch.tensor([-0.9, 0.9]), 1, torch.tensor([0.4, 0.4]), rot).status == "kept"
    # across the thin side, long axis pointing at it: shrunk to the distance to the co-vertex
    got = mem.admit(torch.tensor([0.6, -0.6]), 2, torch.tensor([1.0, 0.6]),
                    _rotation(torch.tensor(3 * math.pi / 4)))
    assert got.status == "shrunk"
    assert float(got.semi[0]) == pytest.approx(math.hypot(0.6, 0.6) - 0.3, rel=1e-5)
    clear = regions.ellipsoids_overlap(torch.tensor([0.6, -0.6]), got.semi, None,
                                       torch.zeros(1, 2), torch.tensor([[2.0, 0.3]]), rot[None])
    assert not clear.any()


@pytest.mark.parametrize("norm, rotated", [("2", False), ("2", True), ("1", False)])
def test_memory_sequence_leaves_no_conflicting_overlap(norm, rotated):
    """The soundness invariant: after any sequence, stored regions of different classes are
    disjoint (checked by the exact test and by dense sampling)."""
    g = torch.Generator().manual_seed(21)
    mem = Memory(2, norm, rotated=rotated, capacity=4)   # also exercises growing the storage
    statuses = []
    for _ in range(80):
        c = torch.rand(2, generator=g) * 6 - 3
        semi = torch.rand(2, generator=g) * 1.2 + 0.1
        r = _rotation(torch.rand(1, generator=g)[0] * math.pi) if rotated else None
        statuses.append(mem.admit(c, int(torch.randint(3, (1,), generator=g)), semi, r).status)
    assert {"kept", "shrunk", "rejected"} <= set(statuses)
    n = mem.size
    ca, sa, la = mem.center[:n], mem.semi[:n], mem.label[:n]
    ra = None if mem.rotation is None else mem.rotation[:n]
    pts = _points_of(ca, sa, ra, norm, k=61)
    for i in range(n):
        other = (la != la[i]).nonzero().flatten()
        rb = None if ra is None else ra[i]
        if norm == "2":
            exact = regions.ellipsoids_overlap(ca[i], sa[i], rb, ca[other], sa[other],
                                               None if ra is None else ra[other])
        else:
            exact = regions.cross_polytopes_overlap(ca[i], sa[i], ca[other], sa[other])
        assert not exact.any()
        gauge = _gauge_many(pts[other], ca[i:i + 1].expand(len(other), 2), sa[i:i + 1].expand(len(other), 2),
                            None if ra is None else ra[i:i + 1].expand(len(other), 2, 2), norm)
        assert (gauge > 1 - 1e-9).all()
    assert np.isfinite(mem.semi[:n].numpy()).all()
