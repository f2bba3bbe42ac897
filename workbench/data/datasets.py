"""Datasets: the built-in toy sets shipped with the package and user files (.npz, .npy, .csv).

Everything is loaded without pickle (``allow_pickle=False`` always), checked for shape, finiteness
and label consistency, and handed out as a :class:`Dataset` of float32 inputs and int64 labels.
Problems surface as one-line :class:`DataError` messages a GUI can show as they are.
"""
from __future__ import annotations

import csv
import dataclasses
import pathlib
import zipfile
from typing import Sequence

import numpy as np

BUILTIN_DIR = pathlib.Path(__file__).resolve().parent / "builtin"
# Built-in name -> shipped file; both files hold x_train/y_train/x_test/y_test/classes (+range).
BUILTINS = {"moons": "moons.npz", "digits": "digits.npz"}
SPLITS = ("train", "test")
# A CSV header naming its last column like this marks that column as the labels.
_LABEL_HEADERS = {"label", "labels", "y", "class", "target"}

Indices = slice | Sequence[int] | np.ndarray


class DataError(ValueError):
    """A dataset that cannot be loaded or does not make sense (one-line message)."""


@dataclasses.dataclass
class Dataset:
    """Inputs ``x`` [N, *input_shape] float32, optional labels ``y`` [N] int64.

    ``lower``/``upper`` is the valid range of input values (0..1 for images) that perturbations
    are clipped to; ``None`` means unbounded.
    """

    name: str
    x: np.ndarray
    y: np.ndarray | None = None
    classes: list[str] = dataclasses.field(default_factory=list)
    lower: float | None = None
    upper: float | None = None

    def __post_init__(self) -> None:
        # Validate here, so datasets built in code get the same checks as loaded ones.
        self.x = _check_inputs(self.x, self.name)
        if self.y is not None:
            self.y = _check_labels(self.y, len(self.x), self.name)
            if not self.classes:
                self.classes = [str(i) for i in range(int(self.y.max(initial=-1)) + 1)]
            elif self.y.size and self.y.max() >= len(self.classes):
                raise DataError(f"{self.name}: label {int(self.y.max())} is out of range for "
                                f"{len(self.classes)} classes")
        self.classes = [str(c) for c in self.classes]
        if self.lower is not None and self.upper is not None and self.lower > self.upper:
            raise DataError(f"{self.name}: data range lower {self.lower} > upper {self.upper}")

    def __len__(self) -> int:
        return len(self.x)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])

    def subset(self, indices: Indices) -> Dataset:
        """The samples at ``indices`` (a slice, a list of indices or a boolean mask)."""
        if not isinstance(indices, slice):
            indices = np.asarray(indices)
            if indices.dtype != bool:
                indices = indices.astype(np.int64).reshape(-1)
                bad = indices[(indices >= len(self)) | (indices < -len(self))]
                if bad.size:
                    raise DataError(f"{self.name}: sample index {int(bad[0])} is out of range "
                                    f"(the dataset has {len(self)} samples)")
            elif indices.shape != (len(self),):
                raise DataError(f"{self.name}: a boolean mask needs {len(self)} entries")
        y = None if self.y is None else self.y[indices]
        return Dataset(self.name, self.x[indices], y, list(self.classes), self.lower, self.upper)


def _check_inputs(x: np.ndarray, what: str) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype == object:
        raise DataError(f"{what}: inputs are an object array (ragged rows or mixed types)")
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool) or np.iscomplexobj(x):
        raise DataError(f"{what}: inputs must be real numbers, not {x.dtype}")
    if x.ndim < 2:
        raise DataError(f"{what}: inputs must have shape [N, ...], got {list(x.shape)} "
                        "(reshape single features to [N, 1])")
    if len(x) == 0:
        raise DataError(f"{what}: the dataset has no samples")
    with np.errstate(over="ignore"):  # values beyond float32 become inf, reported just below
        x = np.ascontiguousarray(x, dtype=np.float32)
    if not np.isfinite(x).all():  # after the cast: float64 values beyond float32 become inf
        bad = np.argwhere(~np.isfinite(x))[0]
        raise DataError(f"{what}: inputs contain NaN or infinite values (first at index "
                        f"{tuple(int(i) for i in bad)})")
    return x


def _check_labels(y: np.ndarray, n: int, what: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.dtype == object or y.ndim != 1:
        raise DataError(f"{what}: labels must be a 1-D array of class indices, "
                        f"got shape {list(y.shape)}")
    if not (np.issubdtype(y.dtype, np.number) or y.dtype == bool) or np.iscomplexobj(y):
        raise DataError(f"{what}: labels must be integers, not {y.dtype}")
    if len(y) != n:
        raise DataError(f"{what}: {len(y)} labels for {n} samples")
    y = y.astype(np.int64) if y.dtype == bool else y
    if not np.isfinite(y).all() or np.any(y != np.round(y)) or np.any(y < 0):
        raise DataError(f"{what}: labels must be non-negative integer class indices")
    return y.astype(np.int64)


def _existing(path: str | pathlib.Path) -> pathlib.Path:
    path = pathlib.Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"no such file: {path}")
    return path


def _check_magic(path: pathlib.Path, magic: bytes, kind: str) -> None:
    # np.load guesses "pickle" for anything that is neither .npy nor zip; say what it really is.
    with open(path, "rb") as f:
        head = f.read(len(magic))
    if head[:1] == b"\x80":  # the pickle protocol marker (also torch.save's legacy format)
        raise DataError(f"{path.name}: is a pickle file, which is never loaded "
                        "(save plain numeric arrays)")
    if head != magic:
        raise DataError(f"{path.name}: not a readable {kind} file")


def load_array(path: str | pathlib.Path) -> np.ndarray:
    """A plain ``.npy`` array (inputs or labels), loaded without pickle."""
    path = _existing(path)
    if path.suffix.lower() != ".npy":
        raise DataError(f"{path.name}: expected a .npy file")
    _check_magic(path, b"\x93NUMPY", ".npy")
    try:
        arr = np.load(path, allow_pickle=False)
    except ValueError as err:
        if "allow_pickle" in str(err):
            raise DataError(f"{path.name}: holds a pickled object array, which is never "
                            "loaded (save plain numeric arrays)") from None
        raise DataError(f"{path.name}: not a readable .npy file ({err})") from None
    except (OSError, EOFError) as err:
        raise DataError(f"{path.name}: not a readable .npy file ({err})") from None
    return arr


def _read_npz(path: pathlib.Path) -> dict[str, np.ndarray]:
    _check_magic(path, b"PK", ".npz")
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except ValueError as err:
        if "allow_pickle" in str(err):
            raise DataError(f"{path.name}: holds a pickled object array, which is never "
                            "loaded (save plain numeric arrays)") from None
        raise DataError(f"{path.name}: not a readable .npz file ({err})") from None
    except (OSError, EOFError, zipfile.BadZipFile) as err:
        raise DataError(f"{path.name}: not a readable .npz file ({err})") from None


def _scalar(arrays: dict[str, np.ndarray], key: str) -> float | None:
    return float(arrays[key]) if key in arrays else None


def _from_npz(path: pathlib.Path, split: str, name: str) -> Dataset:
    arrays = _read_npz(path)
    if f"x_{split}" in arrays:  # a file holding splits, like the built-ins
        x, y = arrays[f"x_{split}"], arrays.get(f"y_{split}")
    elif any(k.startswith("x_") for k in arrays):
        have = sorted(k[2:] for k in arrays if k.startswith("x_"))
        raise DataError(f"{path.name}: no split '{split}' (it has {', '.join(have)})")
    else:
        xkey = next((k for k in ("x", "X") if k in arrays), None)
        if xkey is None:
            raise DataError(f"{path.name}: no input array 'x' or 'X' "
                            f"(arrays: {', '.join(sorted(arrays)) or 'none'})")
        x = arrays[xkey]
        y = next((arrays[k] for k in ("y", "Y", "labels") if k in arrays), None)
    classes = [str(c) for c in arrays["classes"].reshape(-1)] if "classes" in arrays else []
    return Dataset(name, x, y, classes, _scalar(arrays, "lower"), _scalar(arrays, "upper"))


def _from_csv(path: pathlib.Path, labels_column: int | str | None) -> tuple[np.ndarray,
                                                                              np.ndarray | None]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = [(i, r) for i, r in enumerate(csv.reader(f), 1) if any(c.strip() for c in r)]
    if not rows:
        raise DataError(f"{path.name}: the file is empty")
    header = None
    try:
        [float(c) for c in rows[0][1]]
    except ValueError:  # a first row that is not all numbers is a header
        header = [c.strip() for c in rows[0][1]]
        rows = rows[1:]
    if not rows:
        raise DataError(f"{path.name}: the file has a header but no data rows")
    width = len(rows[0][1])
    values = np.empty((len(rows), width), dtype=np.float64)
    for k, (line, row) in enumerate(rows):
        if len(row) != width:
            raise DataError(f"{path.name}: line {line} has {len(row)} columns, "
                            f"expected {width}")
        try:
            values[k] = [float(c) for c in row]
        except ValueError:
            raise DataError(f"{path.name}: line {line} has a non-numeric value") from None
    col = _labels_index(path, header, width, labels_column)
    if col is None:
        return values, None
    return np.delete(values, col, axis=1), values[:, col]


def _labels_index(path: pathlib.Path, header: list[str] | None, width: int,
                  labels_column: int | str | None) -> int | None:
    if labels_column is None:
        if header and header[-1].lower() in _LABEL_HEADERS:
            return width - 1
        return None
    if isinstance(labels_column, str):
        if not header or labels_column not in header:
            raise DataError(f"{path.name}: no column named '{labels_column}'")
        return header.index(labels_column)
    if not -width <= labels_column < width:
        raise DataError(f"{path.name}: labels column {labels_column} is out of range "
                        f"({width} columns)")
    return labels_column % width


def load_dataset(name_or_path: str | pathlib.Path, split: str = "test", *,
                 labels: str | pathlib.Path | np.ndarray | None = None,
                 labels_column: int | str | None = None) -> Dataset:
    """A built-in dataset by name (``moons``, ``digits``) or a user file.

    ``split`` ("train"/"test") picks the split of built-ins and of ``.npz`` files that hold
    ``x_train``/``x_test``. ``labels`` (a ``.npy`` path or an array) gives or replaces the
    labels, e.g. for a ``.npy`` inputs file. ``labels_column`` (index or header name) picks the
    labels column of a ``.csv``; by default the last column is the labels when its header is
    ``label`` or ``y``.
    """
    if split not in SPLITS:
        raise DataError(f"unknown split '{split}' (use {' or '.join(SPLITS)})")
    if isinstance(name_or_path, str) and name_or_path in BUILTINS:
        return _from_npz(BUILTIN_DIR / BUILTINS[name_or_path], split, name_or_path)
    path = pathlib.Path(name_or_path).expanduser()
    suffix = path.suffix.lower()
    if suffix not in (".npz", ".npy", ".csv"):
        if not suffix and not path.exists():
            raise DataError(f"unknown dataset '{name_or_path}' (built-in: "
                            f"{', '.join(BUILTINS)}; or a .npz/.npy/.csv file)")
        raise DataError(f"{path.name}: unsupported file type '{suffix or '(none)'}' "
                        "(use .npz, .npy or .csv)")
    path = _existing(path)
    if suffix == ".npz":
        data = _from_npz(path, split, path.stem)
    elif suffix == ".npy":
        data = Dataset(path.stem, load_array(path))
    else:
        x, y = _from_csv(path, labels_column)
        data = Dataset(path.stem, x, y)
    if labels is not None:
        y = load_array(labels) if isinstance(labels, (str, pathlib.Path)) else labels
        data = Dataset(data.name, data.x, y, [], data.lower, data.upper)
    return data


def parse_samples(text: str, n: int | None = None) -> slice | list[int]:
    """The CLI's ``--samples``: ``5`` (sample 5), ``0:100`` / ``:100`` / ``0:100:2`` (a slice)
    or ``1,4,9`` (those samples). With ``n``, indices are checked against the dataset size."""
    text = text.strip()
    try:
        if ":" in text:
            parts = [int(p) if p.strip() else None for p in text.split(":")]
            if len(parts) > 3 or parts[-1:] == [0] and len(parts) == 3:
                raise ValueError
            result: slice | list[int] = slice(*parts)
        else:
            result = [int(p) for p in text.split(",") if p.strip()]
            if not result:
                raise ValueError
    except ValueError:
        raise DataError(f"bad sample selection '{text}' (use 5, 0:100 or 1,4,9)") from None
    if n is not None:
        count = len(range(*result.indices(n))) if isinstance(result, slice) else len(result)
        bad = [i for i in result if not -n <= i < n] if isinstance(result, list) else []
        if bad:
            raise DataError(f"sample {bad[0]} is out of range (the dataset has {n} samples)")
        if count == 0:
            raise DataError(f"sample selection '{text}' selects nothing of {n} samples")
    return result
