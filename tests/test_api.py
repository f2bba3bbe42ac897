"""The library contract: ``from workbench import load_network, bound``."""
from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch

from workbench import bound, load_network


def test_load_and_bound_an_onnx_network_batched(shared_dir):
    path = shared_dir / "pinn" / "burgers_tanh_lbfgs.onnx"
    net = load_network(str(path))
    assert net.input_shape == (2,) and net.num_outputs == 1
    centers = torch.tensor([[0.2, -0.5], [0.5, 0.0], [0.9, 0.7]])
    lo_x, up_x = centers - 0.01, centers + 0.01
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    pts = (lo_x.numpy()[None] + (up_x - lo_x).numpy()[None] * rng.random((500, 3, 2))).astype(np.float32)
    ys = sess.run(None, {sess.get_inputs()[0].name: pts.reshape(-1, 2)})[0].reshape(500, 3)
    for method in ("ibp", "crown", "alpha-crown"):
        lb, ub = bound(net, lo_x, up_x, method=method)
        assert lb.shape == ub.shape == (3, 1)
        assert (ys >= lb[:, 0].numpy() - 1e-5).all() and (ys <= ub[:, 0].numpy() + 1e-5).all()
    # CROWN is far tighter than IBP on this deep tanh network.
    li, ui = bound(net, lo_x, up_x, method="ibp")
    lc, uc = bound(net, lo_x, up_x, method="crown")
    assert ((uc - lc) < 0.5 * (ui - li)).all()


def test_bound_rejects_wrong_shapes_and_takes_a_spec_matrix():
    from netgen import mlp
    net = mlp([3, 8, 4], "relu", 0)
    with pytest.raises(ValueError, match="network takes"):
        bound(net, torch.zeros(2, 5), torch.ones(2, 5))
    C = torch.tensor([[1.0, -1.0, 0.0, 0.0]])
    lb, ub = bound(net, torch.zeros(3), torch.ones(3), method="crown", C=C)   # unbatched box
    assert lb.shape == (1, 1)
    y = net(torch.rand(1000, 3))
    margin = y[:, 0] - y[:, 1]
    assert (margin >= lb[0, 0] - 1e-6).all() and (margin <= ub[0, 0] + 1e-6).all()
