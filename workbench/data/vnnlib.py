"""A VNN-LIB 1.0 property parser: input boxes and unsafe output polytopes, disjunctions included.

The text is read as s-expressions (a tokenizer and a stack parser, no regular expression per
line), so nesting, comments and line breaks anywhere are handled. All ``assert``s together form
one formula; it is distributed to disjunctive normal form, and each conjunction becomes an input
box plus one unsafe output region ``A @ y <= b``. Conjunctions sharing the same box are grouped
into one :class:`VnnlibCase`. The property is violated (``sat``) iff some input in some case's
box gives an output inside one of that case's disjuncts.

Supported: ``declare-const X_i Real`` / ``Y_i Real``; ``assert`` over ``and``, ``or``, ``<=``,
``>=``, ``=`` (``<`` and ``>`` are read as non-strict, the usual over-approximation for
verification); linear terms ``+``, ``-`` (unary and n-ary), ``*`` by constants, ``/`` by
constants; numbers such as ``-0.5`` and ``1e-3``. Input constraints must bound one variable
each (boxes); a constraint mixing inputs and outputs cannot be represented and is an error.
"""
from __future__ import annotations

import dataclasses
import gzip
import pathlib
import re

import numpy as np

# Distributing a conjunction of disjunctions multiplies their sizes; stop before memory does.
MAX_TERMS = 100_000
_TOKEN = re.compile(r'(\s+)|(;[^\n]*)|([()])|("[^"]*"|\|[^|]*\||[^\s();"|]+)')
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_VARIABLE = re.compile(r"([XY])_(\d+)")
_IGNORED = {"set-logic", "set-info", "set-option", "check-sat", "get-model", "exit"}
_COMPARISONS = {"<=", "<", ">=", ">", "="}


class VnnlibError(ValueError):
    """A VNN-LIB file that cannot be parsed or that the workbench cannot represent."""


@dataclasses.dataclass
class VnnlibCase:
    """One input box and the unsafe output regions reachable from it (any one suffices)."""

    lower: np.ndarray  # [n_in] float64
    upper: np.ndarray  # [n_in]
    disjuncts: list[tuple[np.ndarray, np.ndarray]]  # (A [m, n_out], b [m]): unsafe iff A@y <= b

    def is_unsafe(self, y: np.ndarray, tol: float = 0.0) -> np.ndarray:
        """For outputs ``y`` [..., n_out]: does each lie in some unsafe disjunct?"""
        y = np.asarray(y, dtype=np.float64)
        hit = np.zeros(y.shape[:-1], dtype=bool)
        for a, b in self.disjuncts:
            hit |= np.all(y @ a.T <= b + tol, axis=-1)
        return hit


class _Atom(str):
    line: int


class _List(list):
    line: int


def _tokens_to_tree(text: str, where: str) -> list:
    """Top-level s-expressions, each node carrying the line it starts on."""
    stack: list[_List] = [_List()]
    line, pos = 1, 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise VnnlibError(f"{where}: line {line}: unterminated string or symbol")
        _ws, _comment, paren, atom = m.groups()
        if paren == "(":
            node = _List()
            node.line = line
            stack[-1].append(node)
            stack.append(node)
        elif paren == ")":
            if len(stack) == 1:
                raise VnnlibError(f"{where}: line {line}: unbalanced ')'")
            stack.pop()
        elif atom is not None:
            node = _Atom(atom)
            node.line = line
            stack[-1].append(node)
        line += m.group().count("\n")
        pos = m.end()
    if len(stack) > 1:
        raise VnnlibError(f"{where}: line {stack[-1].line}: '(' is never closed")
    return stack[0]


class _Parser:
    def __init__(self, where: str):
        self.where = where
        self.variables: dict[str, tuple[str, int]] = {}

    def fail(self, node, message: str):
        raise VnnlibError(f"{self.where}: line {getattr(node, 'line', '?')}: {message}")

    def declare(self, cmd: _List) -> None:
        if len(cmd) != 3 or not all(isinstance(c, _Atom) for c in cmd[1:]):
            self.fail(cmd, "expected (declare-const NAME Real)")
        name, sort = cmd[1], cmd[2]
        m = _VARIABLE.fullmatch(name)
        if m is None:
            self.fail(cmd, f"variable '{name}' is not named X_<i> (input) or Y_<i> (output)")
        if sort != "Real":
            self.fail(cmd, f"variable {name} has sort {sort}; only Real is supported")
        if name in self.variables:
            self.fail(cmd, f"variable {name} is declared twice")
        self.variables[name] = (m.group(1), int(m.group(2)))

    def linear(self, node) -> tuple[dict[tuple[str, int], float], float]:
        """A term as (coefficients by variable, constant)."""
        if isinstance(node, _Atom):
            if _NUMBER.fullmatch(node):
                return {}, float(node)
            if node in self.variables:
                return {self.variables[node]: 1.0}, 0.0
            self.fail(node, f"'{node}' is neither a number nor a declared variable")
        if not node or not isinstance(node[0], _Atom):
            self.fail(node, "expected a term such as (+ ...), (- ...) or (* c Y_0)")
        op, args = node[0], [self.linear(a) for a in node[1:]]
        if not args:
            self.fail(node, f"'{op}' needs arguments")
        if op == "+" or (op == "-" and len(args) > 1):
            sign = [1.0] + [1.0 if op == "+" else -1.0] * (len(args) - 1)
            return _combine(args, sign)
        if op == "-":
            return _combine(args, [-1.0])
        if op in ("*", "/"):
            if op == "/" and any(a[0] for a in args[1:]):
                self.fail(node, "division by a variable is not linear")
            if sum(bool(a[0]) for a in args) > 1:
                self.fail(node, "a product of variables is not linear")
            coefs, const = args[0]
            for c, k in args[1:]:
                if op == "/" and k == 0.0:
                    self.fail(node, "division by zero")
                factor = k if op == "*" else 1.0 / k
                if c:  # the variable factor; everything so far was constant
                    coefs, const = {v: a * const for v, a in c.items()}, k * const
                else:
                    coefs, const = {v: a * factor for v, a in coefs.items()}, const * factor
            return coefs, const
        self.fail(node, f"unsupported term operator '{op}'")

    def dnf(self, node) -> list[list[tuple]]:
        """A formula as a list of conjunctions of atoms (see :meth:`atom`)."""
        if isinstance(node, _Atom):
            if node in ("true", "false"):
                return [[]] if node == "true" else []
            self.fail(node, f"expected a constraint, got '{node}'")
        if not node or not isinstance(node[0], _Atom):
            self.fail(node, "expected a constraint such as (<= X_0 1.0)")
        op = node[0]
        if op == "and":
            return self.conjoin([self.dnf(c) for c in node[1:]], node)
        if op == "or":
            return [t for c in node[1:] for t in self.dnf(c)]
        if op in _COMPARISONS:
            if len(node) < 3:
                self.fail(node, f"'{op}' needs two or more terms")
            terms = [self.linear(a) for a in node[1:]]
            atoms = []
            for left, right in zip(terms, terms[1:]):  # chains: (<= a b c) is a<=b and b<=c
                diff = _combine([left, right], [1.0, -1.0])  # left - right
                if op in ("<=", "<", "="):
                    atoms.append(self.atom(diff, node))
                if op in (">=", ">", "="):
                    atoms.append(self.atom(_combine([diff], [-1.0]), node))
            return [atoms]
        self.fail(node, f"unsupported operator '{op}' (supported: and, or, <=, >=, <, >, =)")

    def atom(self, expr, node) -> tuple:
        """``expr <= 0`` as ('x', i, lower, upper), ('y', {j: a_j}, b) or ('const', holds)."""
        coefs, const = expr
        coefs = {v: a for v, a in coefs.items() if a != 0.0}
        kinds = {v[0] for v in coefs}
        if not kinds:
            return ("const", const <= 0.0)
        if kinds == {"X", "Y"}:
            self.fail(node, "a constraint mixing inputs and outputs cannot be represented")
        if kinds == {"X"}:
            if len(coefs) > 1:
                self.fail(node, "input constraints must bound a single variable (a box)")
            (_, i), a = next(iter(coefs.items()))
            bound = -const / a + 0.0  # + 0.0 turns -0.0 into 0.0
            return ("x", i, bound, np.inf) if a < 0 else ("x", i, -np.inf, bound)
        return ("y", {j: a for (_, j), a in coefs.items()}, -const + 0.0)

    def conjoin(self, parts: list[list[list[tuple]]], node) -> list[list[tuple]]:
        terms: list[list[tuple]] = [[]]
        for part in parts:
            if len(part) == 1:  # the common case, kept linear in the number of asserts
                for t in terms:
                    t.extend(part[0])
            else:
                if len(terms) * len(part) > MAX_TERMS:
                    self.fail(node, f"the disjunctive normal form exceeds {MAX_TERMS} terms")
                terms = [t + p for t in terms for p in part]
        return terms


def _combine(args, signs):
    coefs: dict[tuple[str, int], float] = {}
    const = 0.0
    for (c, k), s in zip(args, signs):
        const += s * k
        for v, a in c.items():
            coefs[v] = coefs.get(v, 0.0) + s * a
    return coefs, const


def _count(parser: _Parser, kind: str, expected: int | None) -> int:
    indices = sorted(i for k, i in parser.variables.values() if k == kind)
    if indices != list(range(len(indices))):
        missing = sorted(set(range(max(indices) + 1)) - set(indices))
        raise VnnlibError(f"{parser.where}: {kind}_{missing[0]} is not declared "
                          f"(variables must be numbered from 0)")
    if expected is not None and len(indices) != expected:
        what = "inputs" if kind == "X" else "outputs"
        raise VnnlibError(f"{parser.where}: declares {len(indices)} {what}, "
                          f"the network has {expected}")
    return len(indices)


def parse_vnnlib_text(text: str, n_inputs: int | None = None, n_outputs: int | None = None,
                      where: str = "<vnnlib>") -> list[VnnlibCase]:
    """Parse VNN-LIB text; see :func:`parse_vnnlib`."""
    parser = _Parser(where)
    asserts = []
    for cmd in _tokens_to_tree(text, where):
        if not isinstance(cmd, _List) or not cmd or not isinstance(cmd[0], _Atom):
            parser.fail(cmd, "expected a command such as (declare-const ...) or (assert ...)")
        if cmd[0] == "declare-const":
            parser.declare(cmd)
        elif cmd[0] == "assert":
            if len(cmd) != 2:
                parser.fail(cmd, "assert takes exactly one formula")
            asserts.append(cmd)
        elif cmd[0] not in _IGNORED:
            parser.fail(cmd, f"unsupported command '{cmd[0]}'")
    n_in, n_out = _count(parser, "X", n_inputs), _count(parser, "Y", n_outputs)
    if n_in == 0:
        raise VnnlibError(f"{where}: no input variables X_i are declared")
    # Formulas are read only after all declarations: SMT-LIB needs declare before use, but
    # the error for using an undeclared variable is the same either way.
    terms = parser.conjoin([parser.dnf(a[1]) for a in asserts], asserts[0] if asserts else None)
    cases: dict[bytes, VnnlibCase] = {}
    for term in terms:
        lower, upper = np.full(n_in, -np.inf), np.full(n_in, np.inf)
        rows, feasible = [], True
        for atom in term:
            if atom[0] == "x":
                lower[atom[1]] = max(lower[atom[1]], atom[2])
                upper[atom[1]] = min(upper[atom[1]], atom[3])
            elif atom[0] == "y":
                rows.append(atom[1:])
            else:
                feasible &= atom[1]
        unbounded = [f"X_{i}" for i in range(n_in) if not np.isfinite(lower[i] + upper[i])]
        if unbounded:
            raise VnnlibError(f"{where}: inputs without a lower and an upper bound: "
                              f"{', '.join(unbounded)}")
        if not feasible or np.any(lower > upper):
            continue  # this branch of an 'or' is impossible; the others still count
        a, b = np.zeros((len(rows), n_out)), np.array([r[1] for r in rows], dtype=np.float64)
        for k, (coefs, _) in enumerate(rows):
            for j, v in coefs.items():
                a[k, j] = v
        key = lower.tobytes() + upper.tobytes()
        cases.setdefault(key, VnnlibCase(lower, upper, [])).disjuncts.append((a, b))
    if not cases:
        # Vacuously safe; far more likely a mistake than an intended property.
        raise VnnlibError(f"{where}: the constraints are contradictory (no input box remains)")
    return list(cases.values())


def parse_vnnlib(path: str | pathlib.Path, n_inputs: int | None = None,
                 n_outputs: int | None = None) -> list[VnnlibCase]:
    """The cases of a ``.vnnlib`` (or ``.vnnlib.gz``) file.

    With ``n_inputs``/``n_outputs`` the declared variable counts are checked against the
    network's. A case whose disjunct has no output rows (A is [0, n_out]) means every output is
    unsafe for that box.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise VnnlibError(f"no such file: {path}")
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError, EOFError) as err:
        raise VnnlibError(f"{path.name}: cannot read the file ({err})") from None
    return parse_vnnlib_text(text, n_inputs, n_outputs, where=path.name)
