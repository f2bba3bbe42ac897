"""PyTorch networks to Graph: nn.Sequential, TorchScript, torch.export, state dict + architecture."""
from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from workbench.nets.loading import ModelLoadError, UnsupportedModelError
from workbench.nets.torch_io import graph_from_exported, graph_from_module, graph_from_state_dict


def randomize_bn(module: nn.Module) -> nn.Module:
    """Non-trivial running statistics, so batch norm folding is actually tested."""
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.uniform_(-1, 1, generator=gen)
                m.running_var.uniform_(0.5, 2, generator=gen)
                m.weight.uniform_(0.5, 1.5, generator=gen)
                m.bias.uniform_(-1, 1, generator=gen)
    return module.eval()


def every_layer() -> nn.Sequential:
    return randomize_bn(nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.LeakyReLU(0.2),
        nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False),
        nn.Sequential(nn.Conv2d(4, 4, 3, padding="same"), nn.ReLU(), nn.AvgPool2d(2)),
        nn.Flatten(), nn.Dropout(0.3), nn.Linear(16, 12), nn.BatchNorm1d(12), nn.Tanh(),
        nn.Linear(12, 8), nn.Softplus(), nn.Identity(), nn.Linear(8, 3), nn.Sigmoid()))


def close(graph, module, x):
    with torch.no_grad():
        torch.testing.assert_close(graph(x), module(x), rtol=1e-5, atol=1e-5)


def test_sequential_every_layer():
    net = every_layer()
    g = graph_from_module(net, (1, 8, 8))
    close(g, net, torch.randn(5, 1, 8, 8))
    assert "affine" not in [n.op for n in g.nodes[:3]]  # conv + batch norm folded


def test_unsupported_layers_reported_at_once():
    class Custom(nn.Module):
        def forward(self, x):
            return x * 2

    net = nn.Sequential(nn.Linear(4, 4), nn.GELU(), nn.Softplus(beta=2.0), Custom(), nn.Sequential(nn.MaxPool1d(2)))
    with pytest.raises(UnsupportedModelError) as info:
        graph_from_module(net, (4,))
    for part in ("GELU", "Softplus (2) with beta=2.0", "Custom", "MaxPool1d"):
        assert part in str(info.value)


def test_torchscript_sequential(tmp_path):
    net = every_layer()
    path = tmp_path / "net.pt"
    torch.jit.script(net).save(str(path))
    loaded = torch.jit.load(str(path))
    g = graph_from_module(loaded, (1, 8, 8))
    close(g, net, torch.randn(4, 1, 8, 8))


class Residual(nn.Module):
    """conv + BN + avgpool + a residual connection + a buffer scale: what torch.export sees in practice."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3, padding=1)
        self.bn = nn.BatchNorm2d(3)
        self.conv2 = nn.Conv2d(3, 3, 3, padding=1, bias=False)
        self.pool = nn.AvgPool2d(2, count_include_pad=False)
        self.fc = nn.Linear(3 * 3 * 3, 4)
        self.register_buffer("scale", torch.tensor([0.5, 2.0, 1.5]).reshape(3, 1, 1), persistent=False)

    def forward(self, x):
        h = torch.relu(self.bn(self.conv(x)))
        h = h + self.conv2(h) * self.scale
        h = self.pool(torch.nn.functional.leaky_relu(h, 0.1))
        return 1.0 - torch.tanh(self.fc(h.view(h.shape[0], -1))) / 2


@pytest.fixture(scope="module")
def residual_pt2(tmp_path_factory):
    net = randomize_bn(Residual())
    x = torch.randn(3, 2, 6, 6)
    program = torch.export.export(net, (x,), dynamic_shapes=({0: torch.export.Dim("batch")},))
    path = tmp_path_factory.mktemp("export") / "residual.pt2"
    torch.export.save(program, str(path))
    return net, path


def test_export_round_trip(residual_pt2):
    net, path = residual_pt2
    g = graph_from_exported(path)
    assert g.name == "residual" and g.input_shape == (2, 6, 6)
    assert "add" in [n.op for n in g.nodes]
    close(g, net, torch.randn(7, 2, 6, 6))


def test_export_static_batch():
    net = randomize_bn(nn.Sequential(nn.Linear(5, 6), nn.BatchNorm1d(6), nn.Softplus(), nn.Linear(6, 2)))
    program = torch.export.export(net, (torch.randn(2, 5),))
    g = graph_from_exported(program)
    close(g, net, torch.randn(9, 5))


def test_export_unsupported_ops_reported_at_once():
    class Bad(nn.Module):
        def forward(self, x):
            y = torch.nn.functional.max_pool2d(x, 2)
            return torch.softmax(y.flatten(1) * y.flatten(1), dim=1) + torch.exp(x).sum()

    program = torch.export.export(Bad(), (torch.randn(2, 1, 4, 4),))
    with pytest.raises(UnsupportedModelError) as info:
        graph_from_exported(program)
    message = str(info.value)
    for part in ("max_pool2d", "softmax", "aten.mul", "mul of two variables", "aten.exp"):
        assert part in message


def test_state_dict_with_architecture(tmp_path):
    arch = {"input_shape": [1, 6, 6],
            "layers": [{"type": "conv2d", "in": 1, "out": 3, "kernel": 3, "padding": 1},
                       {"type": "batchnorm2d", "num_features": 3},
                       {"type": "relu"}, {"type": "avgpool2d", "kernel": 2}, {"type": "flatten"},
                       {"type": "linear", "in": 27, "out": 4}, {"type": "leaky_relu", "alpha": 0.05},
                       {"type": "linear", "in": 4, "out": 2}]}
    from workbench.nets.architecture import build_module
    net = randomize_bn(build_module(arch))
    torch.save(net.state_dict(), tmp_path / "w.pt")
    (tmp_path / "w.arch.json").write_text(json.dumps(arch))
    g = graph_from_state_dict(tmp_path / "w.pt", tmp_path / "w.arch.json")
    assert g.name == "w"
    close(g, net, torch.randn(5, 1, 6, 6))
    torch.save({"0.weight": torch.zeros(2)}, tmp_path / "bad.pt")
    with pytest.raises(ModelLoadError, match="does not fit"):
        graph_from_state_dict(tmp_path / "bad.pt", tmp_path / "w.arch.json")


def test_export_core_aten_after_decompositions(residual_pt2):
    # run_decompositions() rewrites linear as permute + addmm, conv2d as convolution, BN as
    # _native_batch_norm_legit_no_training + getitem, and the batch size as sym_size.
    net, _ = residual_pt2
    x = torch.randn(3, 2, 6, 6)
    program = torch.export.export(net, (x,), dynamic_shapes=({0: torch.export.Dim("batch")},)).run_decompositions()
    close(graph_from_exported(program), net, torch.randn(5, 2, 6, 6))


def test_export_arithmetic():
    class Arith(nn.Module):
        def forward(self, x):
            y = torch.rsub(x, 2.0, alpha=3.0)
            z = torch.sub(y, x, alpha=0.5) + torch.add(x, y, alpha=2) - torch.neg(x) * torch.tensor([[[1.5]], [[-2.0]]])
            return nn.functional.adaptive_avg_pool2d(z, 2).flatten(1) / 4

    net = Arith()
    close(graph_from_exported(torch.export.export(net, (torch.randn(3, 2, 4, 4),))), net, torch.randn(3, 2, 4, 4))
