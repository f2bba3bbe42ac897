"""Train the PINN sample model `pinn_diffusion_sorption`: PDEBench diffusion-sorption PINN, u = ReLU(N) with N a 2-32-32-32-1 tanh MLP with fixed input normalisation, input (x, t)

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
    pde="diffusion_sorption",
    hidden=(32, 32, 32),
    seed=0,
    n_collocation=4000,
    n_initial=256,
    n_boundary=256,
    # residual in units of the normalised time t/500: weight 500^2 on the mean squared residual
    residual_weight=500.0 ** 2,
    initial_weight=10.0,
    boundary_weight=10.0,
    # 2000 extra collocation points in the early, steep region near the inflow boundary
    extra_box=(0.0, 25.0, 0.0, 0.3),
    n_extra=2000,
    adam_steps=1500,
    adam_lr=3e-3,
    lbfgs_steps=3000,
    # trained without the output ReLU (no gradient where N < 0), which is appended afterwards
    train_output_activation=None,
    description="PDEBench diffusion-sorption PINN, u = ReLU(N) with N a 2-32-32-32-1 tanh MLP with fixed input normalisation, input (x, t)",
)

if __name__ == "__main__":
    main(__file__, CONFIG)
