"""load_network: dispatch by file type, and hostile or broken files never run code or crash raw."""
from __future__ import annotations

import builtins
import json
import pickle
import shutil
import zipfile

import pytest
import torch
from torch import nn

from workbench.nets.loading import ModelLoadError, UnsupportedModelError, load_network
from workbench.nets.onnx_io import graph_to_onnx
from workbench.nets.torch_io import graph_from_module

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit is deprecated upstream


class Payload:
    """Unpickling this writes a marker file: the proof that a loader ran code from a file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return builtins.exec, (f"open({self.marker!r}, 'w').write('ran')",)


def mlp() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 2)).eval()


def agrees(graph, module, shape=(3,)):
    x = torch.randn(5, *shape)
    with torch.no_grad():
        torch.testing.assert_close(graph(x), module(x), rtol=1e-5, atol=1e-5)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """One network saved in every supported format."""
    d = tmp_path_factory.mktemp("models")
    net = mlp()
    graph_to_onnx(graph_from_module(net, (3,)), d / "net.onnx")
    torch.export.save(torch.export.export(net, (torch.randn(2, 3),)), str(d / "net.pt2"))
    scripted = torch.jit.script(net)
    scripted.save(str(d / "net.ts"))
    scripted.save(str(d / "scripted.pt"))
    torch.save(net.state_dict(), d / "weights.pt")
    arch = {"input_shape": [3], "layers": [{"type": "linear", "in": 3, "out": 8}, {"type": "relu"},
                                           {"type": "linear", "in": 8, "out": 2}]}
    (d / "weights.arch.json").write_text(json.dumps(arch))
    torch.save(net, d / "whole.pt")
    return d, net


@pytest.mark.parametrize("name", ["net.onnx", "net.pt2", "net.ts", "scripted.pt", "weights.pt"])
def test_every_format_loads(saved, name):
    d, net = saved
    g = load_network(d / name)
    assert g.name == name.split(".")[0] and g.input_shape == (3,)
    agrees(g, net)


def test_dtype_and_device(saved):
    d, _ = saved
    g = load_network(d / "net.onnx", dtype=torch.float64, device="cpu")
    assert g.dtype == torch.float64 and g.device.type == "cpu"


def test_shared_arch_json_and_missing_arch(saved, tmp_path):
    d, net = saved
    shutil.copy(d / "weights.pt", tmp_path / "model.pth")
    with pytest.raises(ModelLoadError, match="arch.json"):
        load_network(tmp_path / "model.pth")
    shutil.copy(d / "weights.arch.json", tmp_path / "arch.json")
    agrees(load_network(tmp_path / "model.pth"), net)


def test_pickled_module_needs_trust(saved):
    d, net = saved
    with pytest.raises(ModelLoadError, match="trust_pickle"):
        load_network(d / "whole.pt")
    agrees(load_network(d / "whole.pt", trust_pickle=True), net)


@pytest.mark.parametrize("how", ["raw pickle", "torch.save", "inside a state dict"])
def test_hostile_pickle_never_runs(tmp_path, how):
    marker = tmp_path / "marker"
    path = tmp_path / "evil.pt"
    if how == "raw pickle":
        path.write_bytes(pickle.dumps(Payload(marker)))
    elif how == "torch.save":
        torch.save(Payload(marker), path)
    else:
        torch.save({"0.weight": torch.zeros(2), "x": Payload(marker)}, path)
        (tmp_path / "evil.arch.json").write_text(json.dumps({"input_shape": [2], "layers": []}))
    with pytest.raises(ModelLoadError) as info:
        load_network(path)
    assert not marker.exists()
    assert "evil.pt" in str(info.value) and "\n" not in str(info.value)


def test_hostile_export_archive_never_runs(saved, tmp_path):
    # torch.export.load itself unpickles parts of the archive with weights_only=False.
    d, _ = saved
    marker, path = tmp_path / "marker", tmp_path / "evil.pt2"
    evil = tmp_path / "payload.pt"
    torch.save((Payload(marker),), evil)
    with zipfile.ZipFile(d / "net.pt2") as src, zipfile.ZipFile(path, "w") as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            dst.writestr(info, evil.read_bytes() if info.filename.endswith("sample_inputs/model.pt") else data)
    with pytest.raises(ModelLoadError, match="trust_pickle"):
        load_network(path)
    assert not marker.exists()


@pytest.mark.parametrize("suffix", [".onnx", ".pt2", ".pt", ".pth", ".ts", ".jit"])
@pytest.mark.parametrize("content", [b"", b"\x00garbage\xff" * 50, b"PK\x03\x04 not really a zip"])
def test_garbage_files(tmp_path, suffix, content):
    path = tmp_path / f"junk{suffix}"
    path.write_bytes(content)
    with pytest.raises(ModelLoadError) as info:
        load_network(path)
    assert not isinstance(info.value, UnsupportedModelError)
    assert str(info.value).startswith(path.name) and "\n" not in str(info.value)


@pytest.mark.parametrize("name", ["net.onnx", "net.pt2", "net.ts", "weights.pt"])
def test_truncated_files(saved, tmp_path, name):
    d, _ = saved
    data = (d / name).read_bytes()
    if name == "weights.pt":
        shutil.copy(d / "weights.arch.json", tmp_path / "weights.arch.json")
    (tmp_path / name).write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelLoadError, match=name):
        load_network(tmp_path / name)


def test_missing_and_unknown_files(tmp_path):
    with pytest.raises(ModelLoadError, match="no such file"):
        load_network(tmp_path / "nothing.onnx")
    (tmp_path / "model.h5").write_bytes(b"x")
    with pytest.raises(ModelLoadError, match="unknown network file type"):
        load_network(tmp_path / "model.h5")


def test_unsupported_operators_surface_as_one_error(tmp_path):
    torch.jit.script(nn.Sequential(nn.Linear(3, 3), nn.GELU(), nn.MaxPool1d(1))).save(str(tmp_path / "m.ts"))
    with pytest.raises(UnsupportedModelError, match="GELU.*MaxPool1d"):
        load_network(tmp_path / "m.ts")
