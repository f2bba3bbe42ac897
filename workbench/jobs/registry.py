"""The method registry: what can be run, with which parameters, and which views show the result.

A method's parameters are a dataclass whose fields are declared with ``param(...)``; the metadata
(help, unit, range, choices, flag) is what the GUI builds its form from and the CLI its flags, so
both validate through ``params_from_dict`` and agree on what a valid run is.

Family packages register their methods when ``workbench.jobs.methods`` is imported; the import is
lazy so that ``workbench --help`` and the store do not pay for torch.
"""
from __future__ import annotations

import dataclasses
import importlib
import math
import numbers
import os
import types
import typing
from dataclasses import dataclass
from typing import Any, Callable, Literal, Mapping, Union

_METHODS_MODULE = "workbench.jobs.methods"
_registry: dict[str, "Method"] = {}
_loaded = False


class UnknownMethodError(ValueError):
    """A method name nobody registered; the message lists the known ones."""


class ParamError(ValueError):
    """One invalid parameter; ``str()`` is a single line naming it."""

    def __init__(self, param: str, reason: str):
        super().__init__(f"{param}: {reason}")
        self.param = param
        self.reason = reason


def param(default: Any = dataclasses.MISSING, *, help: str, unit: str = "",
          min: float | None = None, max: float | None = None,
          choices: typing.Sequence[Any] | None = None, cli: str | None = None,
          min_label: str = "") -> Any:
    """A dataclass field carrying the metadata forms and flags are built from.

    ``cli`` overrides the flag name (default ``--field-name``); ``min``/``max`` are inclusive;
    ``min_label`` is what a form shows for the minimum when it means something else ("auto").
    """
    meta = {"help": help, "unit": unit, "min": min, "max": max,
            "choices": tuple(choices) if choices is not None else None, "cli": cli,
            "min_label": min_label}
    if isinstance(default, (list, dict, set)):  # dataclasses refuse mutable defaults
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


@dataclass(frozen=True)
class Method:
    name: str
    title: str
    family: str
    params: type
    run: Callable[..., Any]
    views: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class ParamSpec:
    """One parameter as the GUI and CLI see it (type hints resolved, metadata unpacked)."""
    name: str
    type: Any
    default: Any  # dataclasses.MISSING when the field is required
    help: str = ""
    unit: str = ""
    min: float | None = None
    max: float | None = None
    choices: tuple[Any, ...] | None = None
    flag: str = ""
    min_label: str = ""

    @property
    def required(self) -> bool:
        return self.default is dataclasses.MISSING


def register(method: Method) -> Method:
    """Add a method; registering the same name twice with a different method is a bug."""
    if not dataclasses.is_dataclass(method.params) or not isinstance(method.params, type):
        raise TypeError(f"method {method.name!r}: params must be a dataclass type")
    old = _registry.get(method.name)
    if old is not None and old != method:
        raise ValueError(f"method {method.name!r} is already registered")
    _registry[method.name] = method
    return method


def unregister(name: str) -> None:
    """Remove a method (tests register fakes and take them out again)."""
    _registry.pop(name, None)


def _load_methods() -> None:
    global _loaded
    if _loaded:
        return
    try:
        importlib.import_module(_METHODS_MODULE)
    except ModuleNotFoundError as err:
        # Only the absence of the methods module itself means "nothing registered yet"; a
        # missing dependency inside a family package is a real error and must surface.
        if err.name != _METHODS_MODULE:
            raise
    _loaded = True


def get_method(name: str) -> Method:
    _load_methods()
    try:
        return _registry[name]
    except KeyError:
        known = ", ".join(sorted(_registry)) or "none registered"
        raise UnknownMethodError(f"unknown method {name!r} (known: {known})") from None


def list_methods(family: str | None = None) -> list[Method]:
    _load_methods()
    return [m for _, m in sorted(_registry.items()) if family is None or m.family == family]


def param_specs(cls: type) -> list[ParamSpec]:
    """The parameters of a params dataclass, in declaration order."""
    hints = typing.get_type_hints(cls)
    specs = []
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        meta = f.metadata
        default = f.default
        if default is dataclasses.MISSING and f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        choices = meta.get("choices")
        literal = _literal_args(hints.get(f.name))
        specs.append(ParamSpec(
            name=f.name, type=hints.get(f.name, Any), default=default,
            help=meta.get("help", ""), unit=meta.get("unit", ""), min=meta.get("min"),
            max=meta.get("max"), choices=choices if choices is not None else literal,
            flag=meta.get("cli") or "--" + f.name.replace("_", "-"), min_label=meta.get("min_label", "")))
    return specs


def params_from_dict(cls: type, mapping: Mapping[str, Any]) -> Any:
    """Build a validated params instance; strings are coerced (the CLI passes everything as text)."""
    specs = {s.name: s for s in param_specs(cls)}
    unknown = sorted(set(mapping) - set(specs))
    if unknown:
        raise ParamError(", ".join(unknown), f"unknown parameter for {cls.__name__} "
                         f"(known: {', '.join(specs) or 'none'})")
    values = {}
    for name, spec in specs.items():
        if name not in mapping:
            if spec.required:
                raise ParamError(name, "is required")
            continue
        values[name] = _validate(spec, mapping[name])
    try:
        return cls(**values)
    except (ValueError, TypeError) as err:  # a __post_init__ check of the dataclass itself
        raise ParamError(cls.__name__, str(err).splitlines()[0] if str(err) else
                         type(err).__name__) from None


def params_to_dict(instance: Any) -> dict[str, Any]:
    """Plain dict of the init fields (tuples as lists, so it round-trips through JSON)."""
    out = {}
    for f in dataclasses.fields(instance):
        if f.init:
            value = getattr(instance, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
    return out


# ---------------------------------------------------------------- validation helpers

_TRUE = {"true", "1", "yes", "on", "y"}
_FALSE = {"false", "0", "no", "off", "n"}


def _literal_args(tp: Any) -> tuple[Any, ...] | None:
    tp, _ = _strip_optional(tp)
    return tuple(typing.get_args(tp)) if typing.get_origin(tp) is Literal else None


def _strip_optional(tp: Any) -> tuple[Any, bool]:
    """(inner type, whether None is allowed) for ``X | None``; other unions pass unchanged."""
    if typing.get_origin(tp) in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) < len(typing.get_args(tp)) and len(args) == 1:
            return args[0], True
    return tp, tp is None or tp is type(None)


def _validate(spec: ParamSpec, value: Any) -> Any:
    tp, optional = _strip_optional(spec.type)
    if isinstance(value, str) and optional and value.strip().lower() in ("none", "null", ""):
        value = None
    if value is None:
        if optional:
            return None
        raise ParamError(spec.name, "must not be empty")
    value = _coerce(spec.name, tp, value)
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        if isinstance(value, float) and math.isnan(value):
            raise ParamError(spec.name, "must be a number, got nan")
        if spec.min is not None and value < spec.min:
            raise ParamError(spec.name, f"must be >= {spec.min}, got {value}")
        if spec.max is not None and value > spec.max:
            raise ParamError(spec.name, f"must be <= {spec.max}, got {value}")
    if spec.choices is not None and value not in spec.choices:
        # The CLI hands over text: accept "2" for a choice 2, the canonical choice is kept.
        match = [c for c in spec.choices if str(c) == str(value)]
        if not match:
            options = ", ".join(str(c) for c in spec.choices)
            raise ParamError(spec.name, f"must be one of {options}, got {value!r}")
        value = match[0]
    return value


def _coerce(name: str, tp: Any, value: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return value  # the choices check does the work
    if origin in (tuple, list):
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)):
            raise ParamError(name, f"expected a list, got {value!r}")
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        inner = args[0] if args else Any
        out = [_coerce(name, inner, v.strip() if isinstance(v, str) else v) for v in items]
        return tuple(out) if origin is tuple else out
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise ParamError(name, f"expected true or false, got {value!r}")
    if tp is int:
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            return int(value)
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise ParamError(name, f"expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
        raise ParamError(name, f"expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, (str, os.PathLike)):
            return os.fspath(value)
        raise ParamError(name, f"expected text, got {value!r}")
    return value  # other types (Any, enums, ...) are the dataclass's own business
