"""Regenerate the built-in datasets in ``workbench/data/builtin/`` (moons.npz, digits.npz).

    python tools/make_builtin_data.py [--check]

``moons`` is generated here with numpy alone (fixed seed). ``digits`` is extracted from the copy of
the UCI "Optical Recognition of Handwritten Digits" test set bundled with scikit-learn; scikit-learn
is needed only to run this script, never by the workbench itself. ``--check`` compares a fresh
build with the shipped files instead of writing them (zip timestamps differ, the arrays must not).
"""
from __future__ import annotations

import argparse
import pathlib
import sys

import numpy as np

OUT = pathlib.Path(__file__).resolve().parents[1] / "workbench" / "data" / "builtin"
SEED = 0


def stratified_split(y: np.ndarray, test_fraction: float, rng: np.random.Generator
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Train/test indices with the same class proportions in both (sorted, for stable files)."""
    train, test = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        k = int(round(test_fraction * len(idx)))
        test.append(idx[:k])
        train.append(idx[k:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def make_moons(n_per_class: int = 500, noise: float = 0.15) -> dict[str, np.ndarray]:
    """Two interleaving half circles with Gaussian noise (the classic 2-D toy problem)."""
    rng = np.random.default_rng(SEED)
    t = rng.uniform(0.0, np.pi, size=(2, n_per_class))
    upper = np.stack([np.cos(t[0]), np.sin(t[0])], axis=1)
    lower = np.stack([1.0 - np.cos(t[1]), 0.5 - np.sin(t[1])], axis=1)
    x = np.concatenate([upper, lower]) + rng.normal(0.0, noise, size=(2 * n_per_class, 2))
    y = np.repeat(np.arange(2), n_per_class)
    train, test = stratified_split(y, 0.2, rng)
    return {"x_train": x[train].astype(np.float32), "y_train": y[train].astype(np.int64),
            "x_test": x[test].astype(np.float32), "y_test": y[test].astype(np.int64),
            "classes": np.array(["upper moon", "lower moon"])}


def make_digits() -> dict[str, np.ndarray]:
    """The 1797 8x8 digits, pixel counts 0..16 scaled to [0, 1], shape [N, 1, 8, 8]."""
    from sklearn.datasets import load_digits  # only this script needs scikit-learn

    bunch = load_digits()
    x = (bunch.data.reshape(-1, 1, 8, 8) / 16.0).astype(np.float32)  # k/16 is exact in float32
    y = bunch.target.astype(np.int64)
    train, test = stratified_split(y, 0.2, np.random.default_rng(SEED))
    return {"x_train": x[train], "y_train": y[train], "x_test": x[test], "y_test": y[test],
            "classes": np.array([str(d) for d in range(10)]),
            "lower": np.array(0.0), "upper": np.array(1.0)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the shipped files")
    args = parser.parse_args(argv)
    status = 0
    for name, make in (("moons", make_moons), ("digits", make_digits)):
        arrays = make()
        path = OUT / f"{name}.npz"
        if args.check:
            with np.load(path, allow_pickle=False) as old:
                same = set(old.files) == set(arrays) and all(
                    old[k].dtype == v.dtype and np.array_equal(old[k], v)
                    for k, v in arrays.items())
            print(f"{path.name}: {'identical' if same else 'DIFFERENT'}")
            status |= not same
        else:
            OUT.mkdir(parents=True, exist_ok=True)
            np.savez_compressed(path, **arrays)
            print(f"wrote {path} ({len(arrays['x_train'])} train, {len(arrays['x_test'])} test)")
    return status


if __name__ == "__main__":
    sys.exit(main())
