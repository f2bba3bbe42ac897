"""Train the PINN sample model `pinn_burgers`: Burgers (nu = 0.01/pi) PINN, 2-32-32-32-1 tanh MLP with fixed input normalisation, input (t, x)

The loop is `workbench.pinn.pdes.train` (CPU, one thread, fixed seeds, deterministic
algorithms). Writes model.pt, model.arch.json and manifest.json beside this script (or --out DIR).
"""
import pathlib
import sys

REPO = pathlib.Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # run from a checkout, not an installed package
    sys.path.insert(0, str(REPO))

from workbench.pinn.pdes.train import TrainConfig, main  # noqa: E402

CONFIG = TrainConfig(
    pde="burgers",
    hidden=(32, 32, 32),
    seed=0,
    n_collocation=6000,
    n_initial=256,
    n_boundary=256,
    adam_steps=1000,
    adam_lr=3e-3,
    lbfgs_steps=5000,
    description="Burgers (nu = 0.01/pi) PINN, 2-32-32-32-1 tanh MLP with fixed input normalisation, input (t, x)",
)

if __name__ == "__main__":
    main(__file__, CONFIG)
