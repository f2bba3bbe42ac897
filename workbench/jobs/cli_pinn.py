"""``workbench pinn certify`` and ``workbench pinn pdes``: PINN error certification from the shell.

A PINN run is stored like every other run (``workbench runs list`` shows it, ``workbench
report`` prints it); only the data is a PDE instead of samples, and the result is one bound per
part (residual, initial condition, boundary conditions) instead of a verdict per sample.
"""
from __future__ import annotations

import argparse
from typing import Any, Callable

from workbench.jobs import registry
from workbench.jobs.cli_certify import add_param_flags, existing, method_params, model_label, run_stored
from workbench.jobs.cli_common import UsageError
from workbench.jobs.progressbar import format_duration
from workbench.jobs.registry import param_specs

FAMILY = "pinn"
DEFAULT_METHOD = "d-crown"


def add_pinn_parser(sub: argparse._SubParsersAction, command: str | None, argv_method: str | None,
                    certify_handler: Callable[[argparse.Namespace], int]) -> None:
    pinn = sub.add_parser("pinn", allow_abbrev=False, help="certify physics-informed networks (PINNs)")
    pinn_sub = pinn.add_subparsers(dest="pinn_command", metavar="COMMAND", required=True)
    cert = pinn_sub.add_parser("certify", allow_abbrev=False,
                               help="sound bounds of a PINN's residual, initial and boundary errors")
    cert.set_defaults(handler=certify_handler)
    pinn_sub.add_parser("pdes", allow_abbrev=False, help="the PDEs a PINN can be certified against"
                        ).set_defaults(handler=cmd_pdes)
    if command != "pinn":
        return  # the registry (and torch) is loaded only when needed
    names = [m.name for m in registry.list_methods(FAMILY)]
    cert.add_argument("--model", required=True, metavar="PATH", help="the PINN: ONNX, .pt2, TorchScript or "
                      "state dict + architecture (a tanh MLP, optionally ending in ReLU)")
    cert.add_argument("--pde", required=True, metavar="NAME", help="the PDE (see 'workbench pinn pdes')")
    cert.add_argument("--method", default=DEFAULT_METHOD, choices=names, help="certification method")
    cert.add_argument("--out", metavar="RESULT.json", help="also write the result here")
    method = argv_method if argv_method in names else DEFAULT_METHOD
    cert.set_defaults(param_dests=add_param_flags(cert, param_specs(registry.get_method(method).params)))


def cmd_pinn_certify(args: argparse.Namespace, make_job: Callable[..., Any]) -> int:
    from workbench.pinn.pdes import get_pde

    method = registry.get_method(args.method)
    params = method_params(method, args)
    model = existing(args.model, "--model")
    try:
        pde = get_pde(args.pde)
    except ValueError as error:
        raise UsageError(f"--pde: {error}") from None
    code, payload = run_stored(args, method, params, model, {"pde": pde.name}, make_job)
    if payload is None:
        return code
    print(f"{method.title} on {model_label(model)} for {pde.title} "
          f"({format_duration((payload.get('timing') or {}).get('total_s') or 0.0)})")
    print(f"  {'part':<10} {'bound':>12} {'empirical':>12} {'ratio':>8} {'boxes':>9} {'time':>8}  stop")
    for part in ("residual", "initial", "boundary"):
        r = payload.get(part)
        if r:
            print(f"  {part:<10} {_num(r['bound']):>12} {_num(r['empirical_max']):>12} {_num(r['ratio'], 3):>8} "
                  f"{r['boxes']:>9} {format_duration(r['time_s']):>8}  {r['stop']}")
    print("  (bounds of max |error| over the whole domain; the residual, IC and BC errors, not |u - u*|)")
    print(f"run {payload['run_id']}" + (f", result written to {args.out}" if args.out else ""))
    return 0


def cmd_pdes(args: argparse.Namespace) -> int:
    from workbench.pinn.pdes import get_pde, list_pdes

    for name in list_pdes():
        pde = get_pde(name)
        print(f"{name:<20} {pde.title}: {pde.residual_string()}")
    return 0


def _num(value: Any, digits: int = 4) -> str:
    return f"{value:.{digits}g}" if isinstance(value, (int, float)) else str(value)
