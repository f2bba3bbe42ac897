"""Turn a certify job's data options into tensors: samples, labels, valid range, or VNN-LIB cases."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..data.datasets import DataError, load_array, load_dataset, parse_samples
from ..data.vnnlib import VnnlibCase, parse_vnnlib
from ..nets.graph import Graph


@dataclass
class Samples:
    """Points to certify around (a dataset, a selection of it, or a user array)."""
    x: np.ndarray                 # [N, *input_shape] float
    labels: np.ndarray | None     # [N] int or None
    indices: list[int]            # index of each sample in its source
    clip: tuple[float, float] | None
    description: dict


def load_samples(graph: Graph, *, input: str | None = None, labels: str | None = None,
                 dataset: str | None = None, samples: str | None = None) -> Samples:
    if input is not None:
        x = load_array(input).astype(np.float32)
        if tuple(x.shape) == graph.input_shape:   # a single unbatched input
            x = x[None]
        y = load_array(labels).astype(np.int64).reshape(-1) if labels is not None else None
        source = {"input": str(input), "labels": None if labels is None else str(labels)}
        clip = None
    else:
        data = load_dataset(dataset, labels=labels)
        x, y, clip = data.x, data.y, None
        if data.lower is not None and data.upper is not None:
            clip = (float(data.lower), float(data.upper))
        source = {"dataset": str(dataset), "classes": data.classes}
    n = len(x)
    selection = parse_samples(samples, n) if samples else slice(None)
    indices = list(range(n))[selection] if isinstance(selection, slice) else [i % n for i in selection]
    x = x[indices]
    if y is not None:
        if len(y) != n:
            raise DataError(f"{len(y)} labels given for {n} inputs")
        y = y[indices]
    if tuple(x.shape[1:]) != graph.input_shape:
        flat = int(np.prod(graph.input_shape))
        if int(np.prod(x.shape[1:])) != flat:
            raise DataError(f"the data has samples of shape {tuple(x.shape[1:])}, the network takes "
                            f"{graph.input_shape}")
        x = x.reshape(len(x), *graph.input_shape)   # e.g. [N, 64] data for a [1, 8, 8] network
    if y is not None and y.size and int(y.max()) >= graph.num_outputs:
        raise DataError(f"label {int(y.max())} is out of range for a network with {graph.num_outputs} outputs")
    source["samples"] = samples or "all"
    return Samples(x, y, indices, clip, source)


def load_cases(graph: Graph, path: str) -> list[VnnlibCase]:
    n_in = int(np.prod(graph.input_shape))
    return parse_vnnlib(path, n_in, graph.num_outputs)
