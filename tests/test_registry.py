"""The method registry and parameter validation (shared by the GUI form and the CLI flags)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pytest

from workbench.jobs import registry
from workbench.jobs.registry import (Method, ParamError, UnknownMethodError, get_method,
                                     list_methods, param, param_specs, params_from_dict,
                                     params_to_dict, register, unregister)


@dataclass
class FakeParams:
    eps: float = param(0.1, help="perturbation radius", unit="input units", min=0.0)
    norm: str = param("inf", help="ball norm", choices=("inf", "2"))
    iters: int = param(20, help="iterations", min=1, max=1000, cli="--alpha-iters")
    bab: bool = param(False, help="branch and bound")
    timeout: float | None = param(None, help="time budget", unit="s", min=0.0)
    dtype: Literal["float32", "float64"] = param("float32", help="precision")
    sizes: tuple[int, ...] = param((1, 2), help="widths")
    tags: list = param([], help="a mutable default")


def _run(job, *, progress, cancelled):
    return None


@pytest.fixture
def fake_method():
    method = Method("fake-reg", "Fake", "testing", FakeParams, _run, views=("bars",))
    register(method)
    yield method
    unregister(method.name)


def test_param_metadata_and_specs():
    specs = {s.name: s for s in param_specs(FakeParams)}
    assert specs["eps"].unit == "input units" and specs["eps"].min == 0.0
    assert specs["eps"].flag == "--eps" and specs["iters"].flag == "--alpha-iters"
    assert specs["dtype"].choices == ("float32", "float64")  # from the Literal
    assert specs["norm"].choices == ("inf", "2")
    assert specs["timeout"].type == (float | None)
    assert not specs["eps"].required
    # mutable defaults become factories: instances must not share the list
    a, b = FakeParams(), FakeParams()
    a.tags.append(1)
    assert b.tags == []


def test_params_from_dict_coerces_cli_strings():
    p = params_from_dict(FakeParams, {"eps": "0.25", "iters": "7", "bab": "yes",
                                      "timeout": "none", "norm": "2", "sizes": "3, 4"})
    assert p == FakeParams(eps=0.25, iters=7, bab=True, timeout=None, norm="2", sizes=(3, 4))
    p = params_from_dict(FakeParams, {"eps": np.float32(0.5), "iters": np.int64(3),
                                      "timeout": 10})
    assert p.eps == 0.5 and isinstance(p.iters, int) and p.timeout == 10.0
    assert params_from_dict(FakeParams, {}) == FakeParams()
    assert params_from_dict(FakeParams, {"iters": 4.0}).iters == 4


@pytest.mark.parametrize("mapping, fragment", [
    ({"eps": "abc"}, "eps: expected a number"),
    ({"eps": -1}, "eps: must be >= 0.0"),
    ({"eps": "nan"}, "eps: must be a number"),
    ({"iters": 0}, "iters: must be >= 1"),
    ({"iters": 5000}, "iters: must be <= 1000"),
    ({"iters": 2.5}, "iters: expected an integer"),
    ({"iters": True}, "iters: expected an integer"),
    ({"bab": "maybe"}, "bab: expected true or false"),
    ({"norm": "1"}, "norm: must be one of inf, 2"),
    ({"dtype": "float16"}, "dtype: must be one of float32, float64"),
    ({"eps": None}, "eps: must not be empty"),
    ({"colour": 1}, "colour: unknown parameter for FakeParams"),
])
def test_params_from_dict_rejects(mapping, fragment):
    with pytest.raises(ParamError) as info:
        params_from_dict(FakeParams, mapping)
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)
    assert isinstance(info.value, ValueError)


def test_required_field_and_post_init():
    @dataclass
    class Strict:
        n: int = param(help="required count")
        m: int = param(1, help="other")

        def __post_init__(self):
            if self.m > self.n:
                raise ValueError("m must not exceed n\nsecond line")

    with pytest.raises(ParamError, match="n: is required"):
        params_from_dict(Strict, {})
    with pytest.raises(ParamError, match="Strict: m must not exceed n$"):
        params_from_dict(Strict, {"n": 1, "m": 2})
    assert param_specs(Strict)[0].required


def test_params_to_dict_round_trip():
    p = FakeParams(eps=0.3, sizes=(5,))
    d = params_to_dict(p)
    assert d["sizes"] == [5] and d["eps"] == 0.3
    assert params_from_dict(FakeParams, d) == p


def test_register_get_list(fake_method):
    assert get_method("fake-reg") is fake_method
    assert fake_method in list_methods()
    assert fake_method in list_methods("testing")
    assert fake_method not in list_methods("bounds")
    register(fake_method)  # the same method again is harmless (module re-import)
    with pytest.raises(ValueError, match="already registered"):
        register(dataclasses.replace(fake_method, title="Other"))
    with pytest.raises(TypeError):
        register(Method("bad", "Bad", "testing", dict, _run))


def test_unknown_method_lists_known(fake_method):
    with pytest.raises(UnknownMethodError) as info:
        get_method("nope")
    assert "fake-reg" in str(info.value) and isinstance(info.value, ValueError)


def test_missing_methods_module_means_empty_registry(monkeypatch):
    def fail(name):
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)

    monkeypatch.setattr(registry, "_loaded", False)
    monkeypatch.setattr(registry.importlib, "import_module", fail)
    assert isinstance(list_methods(), list)  # tolerated: nothing registered yet


def test_broken_family_import_is_not_hidden(monkeypatch):
    def fail(name):
        raise ModuleNotFoundError("No module named 'somedep'", name="somedep")

    monkeypatch.setattr(registry, "_loaded", False)
    monkeypatch.setattr(registry.importlib, "import_module", fail)
    with pytest.raises(ModuleNotFoundError):
        list_methods()

