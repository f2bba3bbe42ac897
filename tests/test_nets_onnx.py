"""ONNX reading/writing: every supported operator against onnxruntime, real models, errors."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from workbench.nets.graph import Graph, Node
from workbench.nets.loading import UnsupportedModelError
from workbench.nets.onnx_io import graph_from_onnx, graph_to_onnx
from workbench.nets.simplify import simplify

ort = pytest.importorskip("onnxruntime")
RNG = np.random.default_rng(0)


def const(name: str, value) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(value), name)


def model(nodes, inits, in_shape, opset=13, batch="N") -> onnx.ModelProto:
    g = helper.make_graph(nodes, "test",
                          [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, *in_shape])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def run_ort(m: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


def agrees(m: onnx.ModelProto, in_shape, batch: int = 4, scale: float = 1.0) -> Graph:
    g = graph_from_onnx(m.SerializeToString())
    x = (scale * RNG.standard_normal((batch, *in_shape))).astype(np.float32)
    want = run_ort(m, x)
    got = g(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(got.reshape(want.shape), want, rtol=1e-5, atol=1e-5)
    return g


def w(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


# -- real models ---------------------------------------------------------------------------------------
def test_acasxu_networks_match_onnxruntime(shared_dir):
    files = sorted((shared_dir / "vnncomp" / "acasxu").glob("*.onnx"))
    assert len(files) >= 5
    for f in files:
        g = graph_from_onnx(f)
        assert g.input_shape == (1, 1, 5) and g.output_shape == (5,) and g.name == f.stem
        sess = ort.InferenceSession(str(f), providers=["CPUExecutionProvider"])
        x = RNG.uniform(-1, 1, (16, 1, 1, 1, 5)).astype(np.float32)
        want = np.concatenate([sess.run(None, {"input": xi})[0] for xi in x])
        got = g(torch.from_numpy(x[:, 0])).detach().numpy()
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_pinns_match_onnxruntime(shared_dir):
    for f in sorted((shared_dir / "pinn").glob("*.onnx")):
        g = graph_from_onnx(f)
        assert g.input_shape == (2,)
        sess = ort.InferenceSession(str(f), providers=["CPUExecutionProvider"])
        x = RNG.uniform(-1, 1, (256, 2)).astype(np.float32)
        np.testing.assert_allclose(g(torch.from_numpy(x)).detach().numpy(), sess.run(None, {"input": x})[0],
                                   rtol=1e-5, atol=1e-5)
        assert [n.op for n in g.nodes].count("affine") <= 1  # normalisation folded into one affine


# -- one model per operator --------------------------------------------------------------------------------
@pytest.mark.parametrize("trans_b,alpha,beta,c_shape", [(0, 1.0, 1.0, (3,)), (1, 0.5, 2.0, (1, 3)), (1, 1.0, 1.0, None),
                                                        (0, 1.0, -1.0, ())])
def test_gemm(trans_b, alpha, beta, c_shape):
    B = w(3, 5) if trans_b else w(5, 3)
    inputs, inits = ["input", "B"], [const("B", B)]
    if c_shape is not None:
        inputs.append("C")
        inits.append(const("C", w(*c_shape)))
    n = helper.make_node("Gemm", inputs, ["y"], transB=trans_b, alpha=alpha, beta=beta)
    agrees(model([n], inits, [5]), [5])


def test_matmul_add_becomes_one_linear():
    nodes = [helper.make_node("MatMul", ["input", "W"], ["h"]), helper.make_node("Add", ["h", "b"], ["y"])]
    g = agrees(model(nodes, [const("W", w(4, 6)), const("b", w(6))], [4]), [4])
    assert [n.op for n in g.nodes] == ["input", "linear"]


@pytest.mark.parametrize("kw,bias", [({"pads": [1, 1, 1, 1]}, True), ({"strides": [2, 2], "dilations": [2, 1]}, False),
                                     ({"group": 2, "pads": [0, 1, 0, 1]}, True)])
def test_conv(kw, bias):
    cin = 4
    weight = w(6, cin // kw.get("group", 1), 3, 3)
    inits = [const("W", weight)] + ([const("B", w(6))] if bias else [])
    n = helper.make_node("Conv", ["input", "W"] + (["B"] if bias else []), ["y"], kernel_shape=[3, 3], **kw)
    agrees(model([n], inits, [cin, 7, 8]), [cin, 7, 8])


@pytest.mark.parametrize("op,kw", [("Relu", {}), ("LeakyRelu", {"alpha": 0.2}), ("LeakyRelu", {}), ("Tanh", {}),
                                   ("Sigmoid", {}), ("Softplus", {}), ("Neg", {}), ("Identity", {}), ("Dropout", {})])
def test_elementwise(op, kw):
    agrees(model([helper.make_node(op, ["input"], ["y"], **kw)], [], [3, 4]), [3, 4], scale=5.0)


@pytest.mark.parametrize("opset,axis,shape", [(8, 1, [2, 3, 4]), (13, 1, [2, 3, 4]), (13, 2, [1, 3, 4]),
                                              (13, -1, [1, 1, 5])])
def test_flatten(opset, axis, shape):
    g = agrees(model([helper.make_node("Flatten", ["input"], ["y"], axis=axis)], [], shape, opset=opset), shape)
    assert len(g.output_shape) == 1


@pytest.mark.parametrize("target", [[0, -1], [-1, 12], [0, 4, 3], [-1, 0, 2, 2], [0, 2, -1]])
def test_reshape(target):
    n = helper.make_node("Reshape", ["input", "s"], ["y"])
    agrees(model([n], [const("s", np.array(target, np.int64))], [3, 4]), [3, 4])


def test_reshape_from_shape_arithmetic():
    # What older torch exporters write for x.view(x.size(0), -1): Shape -> Gather -> Unsqueeze -> Concat.
    nodes = [helper.make_node("Shape", ["input"], ["s"]),
             helper.make_node("Gather", ["s", "zero"], ["b"], axis=0),
             helper.make_node("Unsqueeze", ["b", "axes"], ["b1"]),
             helper.make_node("Concat", ["b1", "minus1"], ["shape"], axis=0),
             helper.make_node("Reshape", ["input", "shape"], ["y"])]
    inits = [const("zero", np.array(0, np.int64)), const("axes", np.array([0], np.int64)),
             const("minus1", np.array([-1], np.int64))]
    g = agrees(model(nodes, inits, [2, 3]), [2, 3])
    assert g.output_shape == (6,)


@pytest.mark.parametrize("shape", [[3, 5, 4], [3]])
def test_batchnorm(shape):
    c = shape[0]
    inits = [const("g", w(c)), const("b", w(c)), const("m", w(c)),
             const("v", RNG.uniform(0.5, 2, c).astype(np.float32))]
    n = helper.make_node("BatchNormalization", ["input", "g", "b", "m", "v"], ["y"], epsilon=1e-3)
    g = agrees(model([n], inits, shape), shape)
    assert [n.op for n in g.nodes] == ["input", "affine"]


def test_conv_then_batchnorm_fuses():
    inits = [const("W", w(3, 2, 3, 3)), const("g", w(3)), const("b", w(3)), const("m", w(3)),
             const("v", RNG.uniform(0.5, 2, 3).astype(np.float32))]
    nodes = [helper.make_node("Conv", ["input", "W"], ["h"], pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["h", "g", "b", "m", "v"], ["y"])]
    g = agrees(model(nodes, inits, [2, 6, 6]), [2, 6, 6])
    assert [n.op for n in g.nodes] == ["input", "conv2d"]


@pytest.mark.parametrize("kw", [{"kernel_shape": [2, 2], "strides": [2, 2]},
                                {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1] * 4, "count_include_pad": 1},
                                {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1] * 4, "count_include_pad": 0},
                                {"kernel_shape": [3, 2], "pads": [1, 0, 1, 0]}])
def test_average_pool(kw):
    agrees(model([helper.make_node("AveragePool", ["input"], ["y"], **kw)], [], [3, 7, 6]), [3, 7, 6])


def test_global_average_pool():
    agrees(model([helper.make_node("GlobalAveragePool", ["input"], ["y"])], [], [3, 5, 4]), [3, 5, 4])


def test_residual_add():
    nodes = [helper.make_node("Conv", ["input", "W"], ["h"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["h"], ["r"]), helper.make_node("Add", ["input", "r"], ["y"])]
    g = agrees(model(nodes, [const("W", w(2, 2, 3, 3))], [2, 5, 5]), [2, 5, 5])
    assert g.nodes[-1].op == "add"


@pytest.mark.parametrize("op,swap,c", [("Add", False, (1, 3, 1, 1)), ("Add", True, (3, 1, 1)), ("Sub", False, ()),
                                       ("Sub", True, (4,)), ("Mul", False, (3, 1, 4)), ("Mul", True, (1,)),
                                       ("Div", False, (1, 3, 2, 4))])
def test_arithmetic_with_constants(op, swap, c):
    value = RNG.uniform(0.5, 2, c).astype(np.float32)
    inputs = ["c", "input"] if swap else ["input", "c"]
    g = agrees(model([helper.make_node(op, inputs, ["y"])], [const("c", value)], [3, 2, 4]), [3, 2, 4])
    assert [n.op for n in g.nodes] == ["input", "affine"]


def test_sub_of_two_variables():
    nodes = [helper.make_node("Relu", ["input"], ["r"]), helper.make_node("Sub", ["input", "r"], ["y"])]
    agrees(model(nodes, [], [5]), [5])


def test_constant_nodes_are_folded():
    nodes = [helper.make_node("Constant", [], ["a"], value=const("v", np.float32([2.0, 4.0]))),
             helper.make_node("Constant", [], ["b"], value_float=3.0),
             helper.make_node("Mul", ["a", "b"], ["ab"]),  # constant arithmetic: evaluated at load
             helper.make_node("Sub", ["input", "ab"], ["h"]),
             helper.make_node("Div", ["h", "b"], ["y"])]
    g = agrees(model(nodes, [], [2]), [2])
    assert [n.op for n in g.nodes] == ["input", "affine"]


def test_old_style_initializers_listed_as_inputs():
    m = model([helper.make_node("MatMul", ["input", "W"], ["y"])], [const("W", w(3, 2))], [3], opset=8, batch=1)
    m.graph.input.append(helper.make_tensor_value_info("W", TensorProto.FLOAT, [3, 2]))
    m.ir_version = 3
    g = graph_from_onnx(m.SerializeToString())
    assert g.input_shape == (3,)


# -- errors ----------------------------------------------------------------------------------------------
def test_all_unsupported_operators_reported_at_once():
    nodes = [helper.make_node("Softmax", ["input"], ["a"]),
             helper.make_node("MatMul", ["input", "a"], ["b"]),
             helper.make_node("Mul", ["b", "a"], ["c"]),
             helper.make_node("Conv", ["c", "W"], ["d"], auto_pad="SAME_UPPER"),
             helper.make_node("MaxPool", ["d"], ["e"], kernel_shape=[2, 2]),
             helper.make_node("Shape", ["e"], ["s"]),
             helper.make_node("Reshape", ["e", "e"], ["y"])]
    with pytest.raises(UnsupportedModelError) as info:
        graph_from_onnx(model(nodes, [const("W", w(1, 1, 1, 1))], [1, 4, 4]).SerializeToString())
    message = str(info.value)
    for part in ("Softmax", "MatMul of two variables", "Mul of two variables", "auto_pad=SAME_UPPER", "MaxPool",
                 "Reshape with a non-constant shape"):
        assert part in message
    assert "\n" not in message


def test_flatten_of_batch_is_unsupported():
    with pytest.raises(UnsupportedModelError, match="axis=0"):
        graph_from_onnx(model([helper.make_node("Flatten", ["input"], ["y"], axis=0)], [], [3]).SerializeToString())


def test_reshape_that_moves_the_batch_is_unsupported():
    n = helper.make_node("Reshape", ["input", "s"], ["y"])
    with pytest.raises(UnsupportedModelError, match="batch"):
        graph_from_onnx(model([n], [const("s", np.array([3, -1], np.int64))], [3, 4]).SerializeToString())


# -- writing and simplifying ------------------------------------------------------------------------------
def _sample_graph() -> Graph:
    t = lambda *s: torch.randn(*s)  # noqa: E731
    nodes = [Node("input"),
             Node("conv2d", (0,), {"weight": t(4, 2, 3, 3), "bias": t(4), "stride": (1, 1), "padding": (1, 1),
                                   "dilation": (1, 1), "groups": 1}),
             Node("leaky_relu", (1,), {"alpha": 0.1}),
             Node("affine", (2,), {"scale": t(4, 1, 1), "shift": t(4, 5, 5)}),
             Node("add", (1, 3)),
             Node("softplus", (4,)),
             Node("reshape", (5,), {"shape": (-1,)}),
             Node("linear", (6,), {"W": t(3, 100), "b": t(3)}),
             Node("sigmoid", (7,)), Node("tanh", (8,)), Node("relu", (9,))]
    return Graph((2, 5, 5), nodes, name="sample")


def test_graph_onnx_round_trip(tmp_path):
    g = _sample_graph()
    path = tmp_path / "sample.onnx"
    graph_to_onnx(g, path)
    m = onnx.load(str(path))
    assert m.graph.input[0].name == "input" and m.graph.input[0].type.tensor_type.shape.dim[0].dim_param
    x = torch.randn(6, 2, 5, 5)
    want = g(x).detach().numpy()
    np.testing.assert_allclose(run_ort(m, x.numpy()), want, rtol=1e-5, atol=1e-5)
    back = graph_from_onnx(path)
    np.testing.assert_allclose(back(x).detach().numpy(), want, rtol=1e-5, atol=1e-5)
    assert back.name == "sample"


def test_simplify_fuses_and_keeps_the_function():
    t = lambda *s: torch.randn(*s, dtype=torch.float64)  # noqa: E731
    conv = {"weight": t(3, 2, 3, 3), "bias": t(3), "stride": (1, 1), "padding": (0, 0), "dilation": (1, 1), "groups": 1}
    nodes = [Node("input"), Node("conv2d", (0,), conv),
             Node("affine", (1,), {"scale": t(3, 1, 1), "shift": t(3, 1, 1)}),  # per channel: fuses
             Node("affine", (2,), {"scale": t(1, 4, 4), "shift": t(())}),  # per position: stays
             Node("affine", (3,), {"scale": t(()), "shift": t(3, 4, 4)}),  # after an affine: fuses
             Node("reshape", (4,), {"shape": (48,)}),
             Node("linear", (5,), {"W": t(5, 48), "b": t(5)}),
             Node("affine", (6,), {"scale": t(5), "shift": t(1)}),  # per feature: fuses
             Node("relu", (7,)),
             Node("affine", (8,), {"scale": torch.ones(1, dtype=torch.float64),  # identity: dropped
                                   "shift": torch.zeros(5, dtype=torch.float64)}),
             Node("linear", (9,), {"W": t(2, 5), "b": t(2)}),
             Node("add", (10, 10)), Node("affine", (10,), {"scale": t(2), "shift": t(2)}), Node("add", (11, 12))]
    g = Graph((2, 6, 6), nodes)
    s = simplify(g)
    assert [n.op for n in s.nodes] == ["input", "conv2d", "affine", "reshape", "linear", "relu", "linear", "add",
                                       "affine", "add"]  # the last linear has two users: nothing folds into it
    x = torch.randn(7, 2, 6, 6, dtype=torch.float64)
    torch.testing.assert_close(s(x), g(x))


def _broadcast_shapes(shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    options = [(), (1,), shape[-1:], shape, (1,) * len(shape)]
    if len(shape) == 3:
        options += [(shape[0], 1, 1), (1, shape[1], shape[2])]
    if len(shape) >= 2:
        options.append((shape[0],) + (1,) * (len(shape) - 1))
    return options


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_simplify_never_changes_the_function(data):
    base = data.draw(st.sampled_from(["linear", "linear2d", "conv2d"]))
    gen = torch.Generator().manual_seed(data.draw(st.integers(0, 2**16)))
    t = lambda *s: torch.randn(s, generator=gen, dtype=torch.float64)  # noqa: E731
    if base == "conv2d":
        in_shape, first = (2, 5, 5), Node("conv2d", (0,), {"weight": t(3, 2, 3, 3), "bias": t(3), "stride": (1, 1),
                                                            "padding": (1, 1), "dilation": (1, 1), "groups": 1})
    else:
        in_shape = (4,) if base == "linear" else (3, 4)
        first = Node("linear", (0,), {"W": t(5, 4), "b": t(5)})
    nodes = [Node("input"), first]
    shape = Graph(in_shape, list(nodes)).output_shape
    for _ in range(data.draw(st.integers(1, 3))):
        s, b = (data.draw(st.sampled_from(_broadcast_shapes(shape))) for _ in range(2))
        nodes.append(Node("affine", (len(nodes) - 1,), {"scale": t(*s), "shift": t(*b)}))
    if data.draw(st.booleans()):  # a second user of the first node forbids folding into it
        nodes.append(Node("add", (1, len(nodes) - 1)))
    g = Graph(in_shape, nodes)
    s = simplify(g)
    x = torch.randn(6, *in_shape, dtype=torch.float64)
    torch.testing.assert_close(s(x), g(x))
    assert len(s.nodes) <= len(g.nodes)
