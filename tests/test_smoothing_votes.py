"""Vote counting decides exactly as torch.argmax (first maximum, NaN as the maximum), in both
logit layouts, across batch and fold boundaries; a network ending in a linear layer is counted
through its transposed head and gives the counts of its plain forward pass."""
from __future__ import annotations

import pytest
import torch

from tests.netgen import cnn, mlp
from workbench.nets.graph import Graph, Node
from workbench.smoothing import votes as votes_mod
from workbench.smoothing.sampling import count_classes, noise_for
from workbench.smoothing.votes import Votes, classifier_head


def _hostile_logits(n: int, c: int, gen: torch.Generator) -> torch.Tensor:
    """Small integers (many ties, also for the maximum), some NaN and infinite entries."""
    logits = torch.randint(-2, 3, (n, c), generator=gen).double()
    u = torch.rand(n, c, generator=gen)
    logits[u < 0.05] = float("nan")
    logits[(u >= 0.05) & (u < 0.08)] = float("inf")
    logits[(u >= 0.08) & (u < 0.11)] = float("-inf")
    logits[:3] = float("nan")           # rows of NaN only, -inf only, and -inf with a tie at +0/-0
    logits[1] = float("-inf")
    logits[2] = torch.tensor([-0.0, 0.0] + [float("-inf")] * (c - 2)) if c > 2 else torch.tensor([-0.0, 0.0])
    return logits


@pytest.mark.parametrize("classes", [2, 3, 10])
@pytest.mark.parametrize("transposed", [False, True])
def test_votes_count_what_argmax_decides(monkeypatch, classes, transposed):
    monkeypatch.setattr(Votes, "ROWS", 40)     # several folds, and a partial one at the end
    b, k, batches = 4, 5, 7
    gen = torch.Generator().manual_seed(classes)
    counts = torch.zeros(b, classes, dtype=torch.int64)
    expected = torch.zeros(b, classes, dtype=torch.int64)
    votes = Votes(counts, k, transposed=transposed)
    for _ in range(batches):
        logits = _hostile_logits(b * k, classes, gen)
        votes.add(logits.T.contiguous() if transposed else logits)
        winners = logits.argmax(1).view(b, k)
        expected.scatter_add_(1, winners, torch.ones_like(winners))
    votes.fold()
    assert torch.equal(counts, expected)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_transposed_votes_in_float32_match_argmax(dtype):
    gen = torch.Generator().manual_seed(3)
    logits = _hostile_logits(60, 10, gen).to(dtype)
    counts = torch.zeros(6, 10, dtype=torch.int64)
    votes = Votes(counts, 10, transposed=True)
    votes.add(logits.T.contiguous())
    votes.fold()
    winners = logits.argmax(1).view(6, 10)
    assert torch.equal(counts, torch.zeros(6, 10, dtype=torch.int64).scatter_add_(1, winners, torch.ones_like(winners)))


def test_a_network_ending_in_a_linear_layer_is_counted_through_its_head(monkeypatch):
    graph = mlp([5, 30, 30, 7], "relu", seed=2, dtype=torch.float64)
    head = classifier_head(graph)
    assert head is not None
    x = torch.randn(6, 5, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    assert torch.allclose(head.logits_t(x).T, graph(x), rtol=1e-12, atol=1e-12)
    used = []
    monkeypatch.setattr(votes_mod.ClassifierHead, "logits_t",
                        lambda self, x, f=votes_mod.ClassifierHead.logits_t: used.append(1) or f(self, x))
    noise = noise_for("gaussian", torch.full((6,), 1.0, dtype=torch.float64))

    def counts(forward):
        return count_classes(forward, x, noise, 500, 7, batch_size=210,
                             generator=torch.Generator().manual_seed(9))
    through_head = counts(graph)
    assert used
    used.clear()
    plain = counts(lambda z: graph(z))      # any other callable: the plain forward and argmax
    assert not used
    assert torch.equal(through_head, plain) and through_head.sum(1).tolist() == [500] * 6
    assert (through_head > 0).sum() > 12     # the draws reach several classes per input


def test_only_flat_linear_outputs_have_a_head():
    assert classifier_head(mlp([3, 8, 4], "tanh")) is not None
    nodes = mlp([3, 8, 4], "tanh").nodes
    assert classifier_head(Graph((3,), nodes + [Node("sigmoid", (len(nodes) - 1,))])) is None
    assert classifier_head(cnn("relu")) is not None          # flatten, then linear
    assert classifier_head(lambda x: x) is None
