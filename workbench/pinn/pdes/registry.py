"""The PDE registry: ``get_pde(name)`` and ``list_pdes()``."""
from __future__ import annotations

from functools import lru_cache

from workbench.pinn.pdes.base import PDE
from workbench.pinn.pdes.definitions import FACTORIES

ALIASES = {"nls": "schrodinger", "schroedinger": "schrodinger", "diff_sorp": "diffusion_sorption",
           "diffusion-sorption": "diffusion_sorption", "allen-cahn": "allen_cahn", "ac": "allen_cahn"}


def list_pdes() -> list[str]:
    """Names of the defined PDEs."""
    return list(FACTORIES)


@lru_cache(maxsize=None)
def _make(key: str) -> PDE:
    return FACTORIES[key]()


def get_pde(name: str | PDE) -> PDE:
    """The PDE of that name (case-insensitive; a few aliases such as ``nls``); one object per PDE.
    A PDE passes through unchanged."""
    if isinstance(name, PDE):
        return name
    key = str(name).strip().lower().replace(" ", "_")
    key = ALIASES.get(key, key)
    if key not in FACTORIES:
        raise ValueError(f"no PDE named {name!r} (available: {', '.join(FACTORIES)})")
    return _make(key)
