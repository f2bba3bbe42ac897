"""VNN-LIB parsing: the ACAS Xu properties, disjunctions, several input boxes, malformed text."""
import gzip

import numpy as np
import pytest

from workbench.data.vnnlib import VnnlibError, parse_vnnlib, parse_vnnlib_text

HEAD = """; test
(declare-const X_0 Real)
(declare-const X_1 Real)
(declare-const Y_0 Real)
(declare-const Y_1 Real)
(declare-const Y_2 Real)
"""
BOX = "(assert (>= X_0 -1))\n(assert (<= X_0 1))\n(assert (>= X_1 0))\n(assert (<= X_1 2))\n"
ACAS_LOWER = [0.6, -0.5, -0.5, 0.45, -0.5]
ACAS_UPPER = [0.679857769, 0.5, 0.5, 0.5, -0.45]


def _acas(shared_dir, n):
    return parse_vnnlib(shared_dir / "vnncomp" / "acasxu" / f"prop_{n}.vnnlib", 5, 5)


def test_acas_prop_1(shared_dir):
    [case] = _acas(shared_dir, 1)
    assert case.lower.dtype == np.float64 and case.lower.tolist() == ACAS_LOWER
    assert case.upper.tolist() == ACAS_UPPER
    [(a, b)] = case.disjuncts
    assert a.tolist() == [[-1.0, 0.0, 0.0, 0.0, 0.0]]
    assert b.tolist() == [-3.991125645861615]  # Y_0 >= 3.9911... is the unsafe region
    assert case.is_unsafe(np.array([[4.0, 0, 0, 0, 0], [3.0, 9, 9, 9, 9]])).tolist() == [True,
                                                                                          False]


def test_acas_prop_2(shared_dir):
    [case] = _acas(shared_dir, 2)
    [(a, b)] = case.disjuncts
    expected = np.zeros((4, 5))
    expected[:, 0] = -1.0
    expected[np.arange(4), np.arange(1, 5)] = 1.0  # Y_j - Y_0 <= 0: Y_0 is maximal
    assert np.array_equal(a, expected) and b.tolist() == [0.0] * 4
    assert not np.signbit(b).any()


def test_acas_props_3_4(shared_dir):
    [c3], [c4] = _acas(shared_dir, 3), _acas(shared_dir, 4)
    for case in (c3, c4):
        [(a, b)] = case.disjuncts
        assert np.array_equal(a[:, 0], np.ones(4)) and np.array_equal(a[:, 1:], -np.eye(4))
        assert b.tolist() == [0.0] * 4
    assert c3.lower[2] == 0.493380324 and c3.upper[2] == 0.5
    assert c4.lower[2] == 0.0 and c4.upper[2] == 0.0 and not np.signbit(c4.lower[2])


def test_counts_are_checked(shared_dir):
    path = shared_dir / "vnncomp" / "acasxu" / "prop_1.vnnlib"
    assert len(parse_vnnlib(path)[0].lower) == 5
    with pytest.raises(VnnlibError, match="declares 5 inputs, the network has 4"):
        parse_vnnlib(path, n_inputs=4)
    with pytest.raises(VnnlibError, match="declares 5 outputs, the network has 3"):
        parse_vnnlib(path, 5, 3)


def test_output_disjunction():
    text = HEAD + BOX + "(assert (or (and (<= Y_0 Y_1)) (and (<= Y_0 Y_2) (>= Y_1 0.5))))"
    [case] = parse_vnnlib_text(text)
    assert case.lower.tolist() == [-1, 0] and case.upper.tolist() == [1, 2]
    (a1, b1), (a2, b2) = case.disjuncts
    assert a1.tolist() == [[1, -1, 0]] and b1.tolist() == [0]
    assert a2.tolist() == [[1, 0, -1], [0, -1, 0]] and b2.tolist() == [0, -0.5]
    y = np.array([[0, 1, -5], [0, -1, 1], [0, -1, -1]])
    assert case.is_unsafe(y).tolist() == [True, False, False]


def test_several_input_boxes_times_output_disjuncts():
    text = HEAD + """
(assert (or (and (>= X_0 0) (<= X_0 1) (>= X_1 -1) (<= X_1 0))
            (and (>= X_0 2) (<= X_0 3) (>= X_1 -1) (<= X_1 0))))
(assert (or (<= Y_0 Y_1) (>= Y_0 3.5)))"""
    cases = parse_vnnlib_text(text, 2, 3)
    assert [c.lower.tolist() for c in cases] == [[0, -1], [2, -1]]
    assert [c.upper.tolist() for c in cases] == [[1, 0], [3, 0]]
    for c in cases:
        assert [(a.tolist(), b.tolist()) for a, b in c.disjuncts] == [
            ([[1, -1, 0]], [0]), ([[-1, 0, 0]], [-3.5])]


def test_nested_and_or_with_shared_bounds():
    # X_1's bounds sit outside the 'or'; nested and/or must distribute.
    text = HEAD + """(assert (and (>= X_1 0) (<= X_1 1)
        (or (and (>= X_0 0) (<= X_0 1)) (and (>= X_0 5) (<= X_0 6)))))
        (assert (or (and (or (<= Y_0 0) (<= Y_1 0)) (<= Y_2 1))))"""
    cases = parse_vnnlib_text(text)
    assert [c.lower.tolist() for c in cases] == [[0, 0], [5, 0]]
    assert len(cases[0].disjuncts) == 2
    assert cases[0].disjuncts[1][0].tolist() == [[0, 1, 0], [0, 0, 1]]


def test_linear_terms_numbers_and_strictness():
    text = HEAD + """(assert (< X_0 1.5e-1)) (assert (> X_0 -.5))
    (assert (<= (* 2 X_1) 4)) (assert (>= (* -1 X_1) (- 0.5)))   ; X_1 <= 2 and X_1 <= 0.5
    (assert (>= X_1 -1E+0))
    (assert (<= (+ Y_0 (* 2.0 Y_1) Y_2) (- 3 Y_1 (/ Y_2 4))))
    (assert (>= (- Y_0) -0.25))
    (assert (= (- Y_2 Y_0) 1))"""
    [case] = parse_vnnlib_text(text)
    assert case.lower.tolist() == [-0.5, -1.0] and case.upper.tolist() == [0.15, 0.5]
    [(a, b)] = case.disjuncts
    assert np.allclose(a, [[1, 3, 1.25], [1, 0, 0], [-1, 0, 1], [1, 0, -1]])
    assert np.allclose(b, [3, 0.25, 1, -1])


def test_infeasible_branch_is_dropped_but_all_infeasible_is_an_error():
    text = HEAD + BOX + "(assert (or (and (>= X_0 5)) (and (<= X_0 0))))(assert (<= Y_0 0))"
    [case] = parse_vnnlib_text(text)
    assert case.upper.tolist() == [0, 2]
    with pytest.raises(VnnlibError, match="contradictory"):
        parse_vnnlib_text(HEAD + BOX + "(assert (>= X_0 5))")


def test_no_output_constraint_means_every_output_is_unsafe():
    [case] = parse_vnnlib_text(HEAD + BOX)
    [(a, b)] = case.disjuncts
    assert a.shape == (0, 3) and b.shape == (0,)
    assert case.is_unsafe(np.zeros(3))


def test_gzip_and_missing_file(tmp_path):
    path = tmp_path / "p.vnnlib.gz"
    path.write_bytes(gzip.compress((HEAD + BOX).encode()))
    assert parse_vnnlib(path)[0].upper.tolist() == [1, 2]
    with pytest.raises(VnnlibError, match="no such file"):
        parse_vnnlib(tmp_path / "none.vnnlib")


@pytest.mark.parametrize("text,match", [
    (HEAD + "(assert (<= X_0 1))\n(assert (>= X_1 0))", "without a lower and an upper bound: "
                                                         "X_0, X_1"),
    (HEAD + BOX + "(assert (<= Y_0 1)", r"line 11: '\(' is never closed"),
    (HEAD + BOX + "(assert (<= Y_0 1)))", "line 11: unbalanced"),
    (HEAD + BOX + "\n(assert (<= Y_7 1))", "line 12: 'Y_7' is neither a number nor a declared"),
    (HEAD + BOX + "(assert (<= Y_0 1x))", "'1x' is neither"),
    (HEAD + BOX + "(assert (<= (* Y_0 Y_1) 1))", "line 11: a product of variables"),
    (HEAD + BOX + "(assert (<= (+ X_0 Y_1) 1))", "mixing inputs and outputs"),
    (HEAD + BOX + "(assert (<= (+ X_0 X_1) 1))", "single variable"),
    (HEAD + BOX + "(assert (not (<= Y_0 1)))", "unsupported operator 'not'"),
    (HEAD + BOX + "(assert (<= Y_0))", "needs two or more terms"),
    (HEAD + BOX + "(assert (<= Y_0 1) (<= Y_1 1))", "exactly one formula"),
    (HEAD + "(declare-const Z Real)", "not named X_<i>"),
    (HEAD + "(declare-const X_0 Real)", "declared twice"),
    (HEAD + "(declare-const X_5 Real)" + BOX, "X_2 is not declared"),
    (HEAD + "(declare-const X_2 Int)", "only Real"),
    (HEAD + BOX + "(define-fun f () Real 1)", "unsupported command 'define-fun'"),
    (HEAD + BOX + "(assert (<= Y_0 \"1))", "unterminated"),
    ("(declare-const Y_0 Real)", "no input variables"),
    (HEAD + BOX + "(assert (<= Y_0 (/ 1 0)))", "division by zero"),
    (HEAD + BOX + "oops", "expected a command"),
])
def test_malformed(text, match):
    with pytest.raises(VnnlibError, match=match) as info:
        parse_vnnlib_text(text, where="bad.vnnlib")
    assert str(info.value).startswith("bad.vnnlib: ") and "\n" not in str(info.value)


def test_dnf_size_is_bounded():
    big = "".join(f"(assert (or (<= Y_0 {i}) (<= Y_1 {i})))" for i in range(20))  # 2**20 terms
    with pytest.raises(VnnlibError, match="disjunctive normal form exceeds"):
        parse_vnnlib_text(HEAD + BOX + big)


def test_many_asserts_parse_quickly():
    n = 3000  # CIFAR-sized input boxes; the conjunction must stay linear, not quadratic
    text = "".join(f"(declare-const X_{i} Real)\n" for i in range(n)) + "(declare-const Y_0 Real)\n"
    text += "".join(f"(assert (<= X_{i} {i + 1}))\n(assert (>= X_{i} {-i}))\n" for i in range(n))
    [case] = parse_vnnlib_text(text + "(assert (>= Y_0 0))")
    assert case.upper[-1] == n and case.lower[-1] == -(n - 1)
