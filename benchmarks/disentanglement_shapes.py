"""Disentanglement metrics of a beta-VAE, a FactorVAE and an AdaGVAE trained briefly on ``shapes``.

Usage::

    python benchmarks/disentanglement_shapes.py [--steps 2000] [--num-train 1000] [--seed 0]

Data: the procedural ground-truth data set ``pyautoencoder.data.shapes()`` (binary 64 x 64
images of a shape rendered from five discrete factors: shape 3, scale 3, orientation 8,
x 8, y 8). All models use the same MLP encoder (flattened
image-256-ReLU-256-ReLU) and decoder (10-256-ReLU-256-ReLU-image, Bernoulli logits), D_z = 10,
Adam (lr 1e-3), batch 64, ``--steps`` updates, seed ``--seed``:

* **beta-VAE** (Higgins et al. 2017): the VAE objective with beta = 4 on single images;
* **FactorVAE** (Kim & Mnih 2018): the VAE objective (beta = 1) plus ``gamma = 20`` times the
  discriminator's total-correlation estimate; two optimizers from ``model.training_steps()``
  (the VAE's Adam lr 1e-3, the discriminator's Adam lr 1e-4 with betas (0.5, 0.9) as in the
  paper; the discriminator is the library default, three hidden layers of 256);
* **AdaGVAE** (Locatello et al. 2020): the same VAE trained on pairs that differ in
  ``k ~ U{1, ..., K - 1}`` random factors (``Shapes.sample_pair_factors(k=None)``, weak
  supervision), beta = 1, adaptive grouping.

Baselines from the same run: the ground-truth factors themselves (scaled to [0, 1]) and
independent Gaussian noise. Every metric is computed with ``--num-train`` training and
``--num-train // 2`` evaluation points (the protocols' defaults are 10,000 and 5,000; fewer
points make the scores noisier, not biased in one direction except for the plug-in mutual
information of MIG and modularity), DCI with 20 gradient-boosted trees per factor. Prints a
markdown table with the machine, versions and the wall time of each row.
"""

from __future__ import annotations

import argparse
import platform
import time
from typing import Any

import torch
from torch import nn

import pyautoencoder
from pyautoencoder import evaluation as E
from pyautoencoder.variational import VAE, AdaGVAE, FactorVAE

LATENT = 10
HIDDEN = 256
BATCH = 64


def load_shapes() -> Any:
    from pyautoencoder.data import shapes

    return shapes()


def build_vae(num_pixels: int) -> VAE:
    encoder = nn.Sequential(
        nn.Flatten(), nn.Linear(num_pixels, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, HIDDEN), nn.ReLU()
    )
    decoder = nn.Sequential(
        nn.Linear(LATENT, HIDDEN),
        nn.ReLU(),
        nn.Linear(HIDDEN, HIDDEN),
        nn.ReLU(),
        nn.Linear(HIDDEN, num_pixels),
    )
    return VAE(encoder, decoder, LATENT, likelihood="bernoulli")


def images(data: Any, factors: torch.Tensor) -> torch.Tensor:
    """Observations flattened to ``[n, P]`` float32."""
    return torch.as_tensor(data.images_from_factors(factors)).float().flatten(1)


def pair_factors(data: Any, n: int, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
    """Factor pairs that differ in ``k ~ U{1, ..., K - 1}`` factors (Locatello et al. 2020)."""
    first, second, _ = data.sample_pair_factors(n, k=None, generator=generator)
    return first, second


def train_beta_vae(data: Any, steps: int, generator: torch.Generator) -> VAE:
    num_pixels = images(data, torch.as_tensor(data.sample_factors(1, generator))).shape[1]
    model = build_vae(num_pixels)
    model.build(images(data, torch.as_tensor(data.sample_factors(BATCH, generator))))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    for _ in range(steps):
        x = images(data, torch.as_tensor(data.sample_factors(BATCH, generator)))
        loss = model.compute_loss(x, model(x), beta=4.0).objective
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return model


def train_factor_vae(data: Any, steps: int, generator: torch.Generator) -> FactorVAE:
    """The update loop ``fit()`` runs for a model with ``training_steps()``, written out."""
    num_pixels = images(data, torch.as_tensor(data.sample_factors(1, generator))).shape[1]
    base = build_vae(num_pixels)
    model = FactorVAE(base.encoder, base.decoder, LATENT, 20.0, likelihood="bernoulli")
    model.build(images(data, torch.as_tensor(data.sample_factors(BATCH, generator))))
    updates = model.training_steps()
    settings = {"vae": {"lr": 1e-3}, "discriminator": {"lr": 1e-4, "betas": (0.5, 0.9)}}
    optimizers = [torch.optim.Adam(u.parameters, **settings[u.name]) for u in updates]
    model.train()
    for _ in range(steps):
        x = images(data, torch.as_tensor(data.sample_factors(BATCH, generator)))
        for update, optimizer in zip(updates, optimizers):
            model.zero_grad(set_to_none=True)
            update.loss(x).objective.backward()
            optimizer.step()
    return model


def train_ada_gvae(data: Any, steps: int, generator: torch.Generator) -> AdaGVAE:
    num_pixels = images(data, torch.as_tensor(data.sample_factors(1, generator))).shape[1]
    model = AdaGVAE(build_vae(num_pixels))
    model.build(images(data, torch.as_tensor(data.sample_factors(BATCH, generator))))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    for _ in range(steps):
        first, second = pair_factors(data, BATCH, generator)
        pair = (images(data, first), images(data, second))
        loss = model.compute_loss(pair, model(pair)).objective
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return model


def all_metrics(representation: Any, data: Any, num_train: int, seed: int) -> dict[str, float]:
    num_eval = max(num_train // 2, 1)
    common = {"seed": seed}
    dci = E.dci(
        representation,
        data,
        num_train=num_train,
        num_test=num_eval,
        estimator_options={"n_estimators": 20},
        **common,
    )
    modularity = E.modularity_explicitness(
        representation, data, num_train=num_train, num_test=num_eval, **common
    )
    return {
        "beta-VAE": E.beta_vae_score(
            representation, data, num_train=num_train, num_eval=num_eval, **common
        ).score,
        "FactorVAE": E.factor_vae_score(
            representation,
            data,
            num_train=num_train,
            num_eval=num_eval,
            num_variance_estimate=num_train,
            **common,
        ).score,
        "MIG": E.mig(representation, data, num_train=num_train, **common).score,
        "SAP": E.sap_score(
            representation, data, num_train=num_train, num_test=num_eval, **common
        ).score,
        "DCI D": dci.disentanglement,
        "DCI C": dci.completeness,
        "DCI I": dci.informativeness,
        "modularity": modularity.modularity,
        "explicitness": modularity.explicitness,
    }


class FactorsAsObservations:
    """The same factors, observed directly (scaled to [0, 1]): the ideal representation."""

    def __init__(self, data: Any) -> None:
        self.data = data
        self.factor_sizes = [int(size) for size in data.factor_sizes]
        self.scale = torch.tensor(self.factor_sizes, dtype=torch.float64).sub(1).clamp(min=1)

    def sample_factors(self, n: int, generator: torch.Generator) -> Any:
        return self.data.sample_factors(n, generator)

    def images_from_factors(self, factors: Any) -> torch.Tensor:
        return torch.as_tensor(factors).double() / self.scale


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--num-train", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    data = load_shapes()
    noise = torch.Generator().manual_seed(args.seed + 1)

    def noise_codes(x: torch.Tensor) -> torch.Tensor:
        return torch.randn(x.shape[0], LATENT, generator=noise)

    rows: list[tuple[str, float, Any, Any]] = []
    start = time.perf_counter()
    beta_vae = train_beta_vae(data, args.steps, torch.Generator().manual_seed(args.seed))
    rows.append(("beta-VAE (beta = 4)", time.perf_counter() - start, beta_vae, data))
    start = time.perf_counter()
    factor_vae = train_factor_vae(data, args.steps, torch.Generator().manual_seed(args.seed))
    rows.append(("FactorVAE (gamma = 20)", time.perf_counter() - start, factor_vae, data))
    start = time.perf_counter()
    ada = train_ada_gvae(data, args.steps, torch.Generator().manual_seed(args.seed))
    rows.append(("AdaGVAE (pairs, k random)", time.perf_counter() - start, ada.vae, data))
    rows.append(("ground-truth factors", 0.0, lambda x: x, FactorsAsObservations(data)))
    rows.append(("independent noise", 0.0, noise_codes, data))

    print(
        f"Machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} "
        f"threads; Python {platform.python_version()}, torch {torch.__version__}, "
        f"pyautoencoder {pyautoencoder.__version__}"
    )
    print(
        f"shapes: factor sizes {list(data.factor_sizes)}; {args.steps} training steps of batch "
        f"{BATCH}; metrics on {args.num_train} / {args.num_train // 2} points, seed "
        f"{args.seed}; one run.\n"
    )
    header: list[str] = []
    for name, train_seconds, representation, source in rows:
        start = time.perf_counter()
        scores = all_metrics(representation, source, args.num_train, args.seed)
        metric_seconds = time.perf_counter() - start
        if not header:
            header = list(scores)
            print("| representation | " + " | ".join(header) + " | train (s) | metrics (s) |")
            print("|---|" + "---|" * (len(header) + 2))
        values = " | ".join(f"{scores[key]:.3f}" for key in header)
        print(f"| {name} | {values} | {train_seconds:.0f} | {metric_seconds:.0f} |")


if __name__ == "__main__":
    main()
