"""Datasets: the built-ins, user files (.npz/.npy/.csv) and their one-line errors."""
import numpy as np
import pytest

from workbench.data.datasets import (BUILTIN_DIR, DataError, Dataset, load_array, load_dataset,
                                     parse_samples)


@pytest.mark.parametrize("name,shape,n_test,n_train,classes,rng", [
    ("moons", (2,), 200, 800, 2, (None, None)),
    ("digits", (1, 8, 8), 359, 1438, 10, (0.0, 1.0)),
])
def test_builtins(name, shape, n_test, n_train, classes, rng):
    test, train = load_dataset(name), load_dataset(name, split="train")
    assert (len(test), len(train)) == (n_test, n_train)
    for d in (test, train):
        assert d.input_shape == shape and d.x.dtype == np.float32 and d.y.dtype == np.int64
        assert len(d.classes) == classes and set(np.unique(d.y)) == set(range(classes))
        assert (d.lower, d.upper) == rng
    assert not any(np.array_equal(a, b) for a in test.x[:20] for b in train.x)  # disjoint splits


def test_builtin_value_ranges():
    digits = np.concatenate([load_dataset("digits", s).x for s in ("train", "test")])
    assert len(digits) == 1797 and digits.min() == 0.0 and digits.max() == 1.0
    assert np.array_equal(digits * 16, np.round(digits * 16))  # pixel counts 0..16, exactly
    moons = load_dataset("moons", "train").x
    assert moons.min() > -1.5 and moons.max() < 2.5


def test_builtin_files_are_plain_arrays():
    for f in BUILTIN_DIR.glob("*.npz"):
        with np.load(f, allow_pickle=False) as npz:  # raises on any object array
            assert {"x_train", "y_train", "x_test", "y_test", "classes"} <= set(npz.files)


def test_subset():
    d = load_dataset("digits")
    assert np.array_equal(d.subset([3, 1]).x, d.x[[3, 1]])
    assert np.array_equal(d.subset(slice(0, 10)).y, d.y[:10])
    assert len(d.subset(d.y == 0)) == int((d.y == 0).sum())
    s = d.subset([0])
    assert (s.classes, s.lower, s.upper, s.input_shape) == (d.classes, 0.0, 1.0, (1, 8, 8))
    with pytest.raises(DataError, match="out of range"):
        d.subset([len(d)])


def test_npz_variants(tmp_path):
    x = np.random.default_rng(0).normal(size=(6, 3))
    np.savez(tmp_path / "a.npz", X=x, labels=np.array([0, 1, 2, 0, 1, 2]))
    d = load_dataset(tmp_path / "a.npz")
    assert d.name == "a" and d.x.dtype == np.float32 and d.classes == ["0", "1", "2"]
    assert d.lower is None and np.allclose(d.x, x)
    np.savez(tmp_path / "b.npz", x=x)
    assert load_dataset(str(tmp_path / "b.npz")).y is None
    np.savez(tmp_path / "c.npz", x_train=x, y_train=np.zeros(6, int), x_test=x[:2],
             lower=np.array(-3.0), upper=np.array(3.0))
    c = load_dataset(tmp_path / "c.npz", "train")
    assert len(c) == 6 and (c.lower, c.upper) == (-3.0, 3.0)
    assert load_dataset(tmp_path / "c.npz").y is None


def test_npy_with_separate_labels(tmp_path):
    np.save(tmp_path / "x.npy", np.ones((4, 1, 2, 2)))
    np.save(tmp_path / "y.npy", np.array([1.0, 0.0, 1.0, 1.0]))
    d = load_dataset(tmp_path / "x.npy", labels=tmp_path / "y.npy")
    assert d.input_shape == (1, 2, 2) and d.y.tolist() == [1, 0, 1, 1] and d.y.dtype == np.int64
    assert load_dataset(tmp_path / "x.npy", labels=np.arange(4)).y.tolist() == [0, 1, 2, 3]
    assert load_array(tmp_path / "y.npy").shape == (4,)


def test_csv(tmp_path):
    (tmp_path / "h.csv").write_text("a,b,label\n0.5,1,0\n-2,3e-1,1\n\n")
    d = load_dataset(tmp_path / "h.csv")
    assert d.x.tolist() == [[0.5, 1.0], [-2.0, 0.30000001192092896]] and d.y.tolist() == [0, 1]
    (tmp_path / "n.csv").write_text("1,2,3\n4,5,6\n")
    assert load_dataset(tmp_path / "n.csv").y is None
    assert load_dataset(tmp_path / "n.csv", labels_column=0).y.tolist() == [1, 4]
    (tmp_path / "c.csv").write_text("cls,f1\n2,0.1\n0,0.2\n")
    assert load_dataset(tmp_path / "c.csv", labels_column="cls").x.shape == (2, 1)


def _raises(match, *args, **kwargs):
    with pytest.raises(DataError, match=match) as info:
        load_dataset(*args, **kwargs)
    assert "\n" not in str(info.value)


def test_errors(tmp_path):
    _raises("no such file", tmp_path / "missing.npz")
    _raises("unknown dataset 'mnist'", "mnist")
    (tmp_path / "x.txt").write_text("1")
    _raises("unsupported file type '.txt'", tmp_path / "x.txt")
    _raises("unknown split", "digits", split="validation")
    np.save(tmp_path / "nan.npy", np.array([[1.0, np.nan]]))
    _raises("NaN or infinite", tmp_path / "nan.npy")
    np.save(tmp_path / "big.npy", np.array([[1e300]]))  # finite in float64, inf in float32
    _raises("NaN or infinite", tmp_path / "big.npy")
    np.save(tmp_path / "obj.npy", np.array([[1], [1, 2]], dtype=object), allow_pickle=True)
    _raises("pickled object array", tmp_path / "obj.npy")
    np.savez(tmp_path / "obj.npz", x=np.array([{"a": 1}], dtype=object))
    _raises("pickled object array", tmp_path / "obj.npz")
    np.save(tmp_path / "flat.npy", np.arange(5.0))
    _raises(r"shape \[N, ...\]", tmp_path / "flat.npy")
    np.save(tmp_path / "x.npy", np.ones((3, 2)))
    _raises("2 labels for 3 samples", tmp_path / "x.npy", labels=np.array([0, 1]))
    _raises("non-negative integer", tmp_path / "x.npy", labels=np.array([0, 1.5, 1]))
    _raises("non-negative integer", tmp_path / "x.npy", labels=np.array([0, -1, 1]))
    np.savez(tmp_path / "nox.npz", inputs=np.ones((2, 2)))
    _raises("no input array", tmp_path / "nox.npz")
    (tmp_path / "ragged.csv").write_text("1,2\n3,4,5\n")
    _raises("line 2 has 3 columns", tmp_path / "ragged.csv")
    (tmp_path / "text.csv").write_text("a,b\n1,x\n")
    _raises("line 2 has a non-numeric", tmp_path / "text.csv")
    (tmp_path / "empty.csv").write_text("")
    _raises("empty", tmp_path / "empty.csv")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    _raises("not a readable .npz", tmp_path / "bad.npz")
    with pytest.raises(DataError, match="expected a .npy"):
        load_array(tmp_path / "nox.npz")


def test_dataset_checks_labels_against_classes():
    with pytest.raises(DataError, match="out of range for 2 classes"):
        Dataset("t", np.zeros((2, 1)), np.array([0, 2]), ["a", "b"])
    assert Dataset("t", np.zeros((2, 1)), np.array([0, 2])).classes == ["0", "1", "2"]


@pytest.mark.parametrize("text,expected", [
    ("5", [5]), ("1,4,9", [1, 4, 9]), (" 1, 4 ", [1, 4]), ("0:100", slice(0, 100)),
    (":10", slice(None, 10)), ("10:", slice(10, None)), ("0:100:2", slice(0, 100, 2)),
])
def test_parse_samples(text, expected):
    assert parse_samples(text) == expected


@pytest.mark.parametrize("text", ["", "a", "1:2:3:4", "1,,x", "1.5", "0:10:0"])
def test_parse_samples_errors(text):
    with pytest.raises(DataError, match="bad sample selection"):
        parse_samples(text)


def test_parse_samples_against_size():
    assert parse_samples("0:1000", n=10) == slice(0, 1000)  # slices clip, like Python's
    with pytest.raises(DataError, match="sample 12 is out of range"):
        parse_samples("3,12", n=10)
    with pytest.raises(DataError, match="selects nothing"):
        parse_samples("20:30", n=10)
    d = load_dataset("moons")
    assert len(d.subset(parse_samples("0:50", n=len(d)))) == 50


def test_pickle_files_are_refused(tmp_path):
    import pickle
    for name in ("p.npy", "p.npz"):
        (tmp_path / name).write_bytes(pickle.dumps({"x": np.ones((2, 2))}))
        _raises("pickle file, which is never loaded", tmp_path / name)
