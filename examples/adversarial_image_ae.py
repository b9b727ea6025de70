"""L2 vs L2 + perceptual vs L2 + perceptual + PatchGAN training of an image autoencoder.

Three copies of one small convolutional autoencoder (a spatial 4 x 16 x 16 latent: the
downsampling factor 4 of latent diffusion's KL-f4 autoencoder) train on 64 x 64 colour images
with stripes, made on the fly from ``pyautoencoder.data.Shapes``, through ``fit()`` with the
same seed, batches and budget:

* ``L2``: mean squared error;
* ``L2 + perceptual``: plus ``perceptual_weight`` times :class:`pyautoencoder.loss.Perceptual`
  over a frozen feature network. No pretrained network is available offline, so it is a
  *random-weight* 3-layer conv net: a weak stand-in for LPIPS / VGG features;
* ``L2 + perceptual + adversarial``: plus VQGAN's adversarial term (Esser et al. 2021, eq. 5-7):
  a :class:`pyautoencoder.nets.PatchDiscriminator` trained with the hinge loss
  (:func:`~pyautoencoder.loss.hinge_discriminator_loss`), the generator's hinge loss
  (:func:`~pyautoencoder.loss.hinge_generator_loss`) weighted by the adaptive weight of eq. 7
  (:func:`~pyautoencoder.loss.adaptive_adversarial_weight`), both switched on at a
  discriminator start step. The model declares its two optimizers with ``training_steps()``
  (:class:`pyautoencoder.training.UpdateStep`), so ``fit()`` trains it like the others.

It prints, per objective, the held-out mean squared error, MS-SSIM (3 scales, 7-pixel window)
and sharpness (the mean absolute finite difference of the reconstructions over that of the
originals: 1 is as sharp as the data, below 1 blurred), and writes ``adversarial_image_ae.png``
(held-out originals, then each objective's reconstructions).
Run: ``python examples/adversarial_image_ae.py`` (``--steps``, ``--seed``, ``--out``).
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
from torch import nn
from torch.nn import functional as F

from pyautoencoder.data import Shapes
from pyautoencoder.loss import (
    LossResult,
    Perceptual,
    adaptive_adversarial_weight,
    hinge_discriminator_loss,
    hinge_generator_loss,
    ms_ssim,
)
from pyautoencoder.nets import PatchDiscriminator
from pyautoencoder.training import UpdateStep, fit
from pyautoencoder.vanilla import AE, AEOutput

FIGURE = "adversarial_image_ae.png"
OBJECTIVES = ("L2", "L2 + perceptual", "L2 + perceptual + adversarial")


# ---------------------------------------------------------------------------- data
def striped_shapes(n: int, seed: int) -> torch.Tensor:
    """``[n, 3, 64, 64]`` images in ``[0, 1]``: a plain-coloured shape of ``Shapes`` on a
    background of stripes between two random colours (period 6 to 12 pixels, any angle)."""
    generator = torch.Generator().manual_seed(seed)
    source = Shapes(image_size=64)
    masks = source.images_from_factors(source.sample_factors(n, generator))  # [n, 1, 64, 64]
    grid = torch.arange(64, dtype=torch.float32)
    angle = torch.rand(n, 1, 1, generator=generator) * math.pi
    period = 6 + 6 * torch.rand(n, 1, 1, generator=generator)
    phase = torch.rand(n, 1, 1, generator=generator) * 2 * math.pi
    along = grid.view(1, 1, 64) * torch.cos(angle) + grid.view(1, 64, 1) * torch.sin(angle)
    stripes = 0.5 + 0.5 * torch.sin(2 * math.pi * along / period + phase)  # [n, 64, 64]
    dark, light, shape = (torch.rand(n, 3, 1, 1, generator=generator) for _ in range(3))
    background = dark + (light - dark) * stripes.unsqueeze(1)  # [n, 3, 64, 64]
    return masks * shape + (1 - masks) * background


# ---------------------------------------------------------------------------- networks
def encoder() -> nn.Module:
    """``[B, 3, 64, 64] -> [B, 4, 16, 16]``: two stride-2 convolutions, GroupNorm, SiLU."""
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.SiLU(),
        nn.Conv2d(16, 32, 4, stride=2, padding=1), nn.GroupNorm(8, 32), nn.SiLU(),
        nn.Conv2d(32, 64, 4, stride=2, padding=1), nn.GroupNorm(8, 64), nn.SiLU(),
        nn.Conv2d(64, 4, 1),
    )  # fmt: skip


def decoder() -> nn.Module:
    """``[B, 4, 16, 16] -> [B, 3, 64, 64]``: the mirror, nearest upsampling + convolution."""
    return nn.Sequential(
        nn.Conv2d(4, 64, 3, padding=1), nn.SiLU(),
        nn.Upsample(scale_factor=2), nn.Conv2d(64, 32, 3, padding=1),
        nn.GroupNorm(8, 32), nn.SiLU(),
        nn.Upsample(scale_factor=2), nn.Conv2d(32, 16, 3, padding=1),
        nn.GroupNorm(8, 16), nn.SiLU(),
        nn.Conv2d(16, 3, 3, padding=1),
    )  # fmt: skip


class RandomFeatures(nn.Module):
    """A frozen random-weight conv net returning three feature maps (stand-in for VGG)."""

    def __init__(self, seed: int = 123) -> None:
        super().__init__()
        torch.manual_seed(seed)
        widths = (3, 16, 32, 64)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Conv2d(a, b, 3, stride=1 if i == 0 else 2, padding=1), nn.ReLU())
            for i, (a, b) in enumerate(itertools.pairwise(widths))
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        maps = []
        for block in self.blocks:
            x = block(x)
            maps.append(x)
        return maps


# ---------------------------------------------------------------------------- models
class ImageAE(AE):
    """An :class:`~pyautoencoder.vanilla.AE` whose loss is L2 plus an optional perceptual term.

    ``loss = mean((x_hat - x)^2) + perceptual_weight * Perceptual(x_hat, x)``.
    """

    def __init__(
        self,
        encoder: nn.Module,
        decoder: nn.Module,
        perceptual: Perceptual | None = None,
        perceptual_weight: float = 0.1,
    ) -> None:
        super().__init__(encoder, decoder)
        self.perceptual = perceptual
        self.perceptual_weight = perceptual_weight

    def reconstruction_loss(self, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
        """0-dim: L2 (+ the weighted perceptual distance)."""
        loss = F.mse_loss(x_hat, x)
        if self.perceptual is not None:
            loss = loss + self.perceptual_weight * self.perceptual(x_hat, x)
        return loss

    def compute_loss(self, x: torch.Tensor, output: AEOutput) -> LossResult:  # type: ignore[override]
        loss = self.reconstruction_loss(x, output.x_hat)
        return LossResult(loss, {"reconstruction": loss.detach()})


class AdversarialImageAE(ImageAE):
    r"""An :class:`ImageAE` trained against a PatchGAN with VQGAN's objective (two optimizers).

    Autoencoder update: ``L_rec + adversarial_weight * 1[t >= t_0] * lambda * L_G`` with
    ``L_G = -mean D(x_hat)`` (hinge generator loss over every patch logit) and ``lambda`` the
    ratio of the gradient norms of ``L_rec`` and ``L_G`` at the decoder's last weight
    (Esser et al. 2021, eq. 7). Discriminator update (from ``t_0`` on): the hinge loss with
    ``x`` real and the reconstruction (no gradient to the autoencoder) fake. ``t`` counts the
    autoencoder updates in a buffer, so a resumed run switches on at the same step.
    """

    def __init__(
        self,
        encoder: nn.Module,
        decoder: nn.Module,
        perceptual: Perceptual | None = None,
        perceptual_weight: float = 0.1,
        adversarial_weight: float = 0.5,
        discriminator_start_step: int = 0,
        discriminator_lr: float = 2e-4,
    ) -> None:
        super().__init__(encoder, decoder, perceptual, perceptual_weight)
        self.discriminator = PatchDiscriminator(3, base_channels=16, num_layers=2)  # batch norm
        self.adversarial_weight = adversarial_weight
        self.discriminator_start_step = discriminator_start_step
        self.discriminator_lr = discriminator_lr
        self.register_buffer("autoencoder_steps", torch.zeros((), dtype=torch.long))

    def autoencoder_loss(self, x: torch.Tensor) -> LossResult:
        x_hat = self(x).x_hat
        reconstruction = self.reconstruction_loss(x, x_hat)
        generator = hinge_generator_loss(self.discriminator(x_hat).flatten())
        last_weight = [p for p in self.decoder.parameters() if p.dim() >= 2][-1]
        adaptive = adaptive_adversarial_weight(reconstruction, generator, last_weight)
        steps: torch.Tensor = self.autoencoder_steps  # type: ignore[assignment]
        gate = (steps >= self.discriminator_start_step).to(x.dtype)
        with torch.no_grad():
            steps.add_(1)
        loss = reconstruction + self.adversarial_weight * gate * adaptive * generator
        diagnostics = {"reconstruction": reconstruction.detach(), "adaptive_weight": adaptive}
        return LossResult(loss, {**diagnostics, "generator_loss": generator.detach()})

    def discriminator_loss(self, x: torch.Tensor) -> LossResult:
        with torch.no_grad():
            x_hat = self(x).x_hat
        real, fake = self.discriminator(x).flatten(), self.discriminator(x_hat).flatten()
        return LossResult(hinge_discriminator_loss(real, fake), {})

    def training_steps(self) -> tuple[UpdateStep, UpdateStep]:
        critic = tuple(self.discriminator.parameters())
        ids = {id(p) for p in critic}
        rest = tuple(p for p in self.parameters() if p.requires_grad and id(p) not in ids)
        return (
            UpdateStep("autoencoder", rest, self.autoencoder_loss),
            UpdateStep(
                "discriminator",
                critic,
                self.discriminator_loss,
                start_step=self.discriminator_start_step,
                lr=self.discriminator_lr,
                optimizer_kwargs={"betas": (0.5, 0.9)},
            ),
        )


def make_model(objective: str, steps: int, seed: int) -> ImageAE:
    """The model of one objective; every objective starts from the same autoencoder weights."""
    perceptual = None if objective == "L2" else Perceptual(RandomFeatures())
    torch.manual_seed(seed)
    if objective.endswith("adversarial"):
        return AdversarialImageAE(
            encoder(), decoder(), perceptual, discriminator_start_step=steps // 2
        )
    return ImageAE(encoder(), decoder(), perceptual)


# ---------------------------------------------------------------------------- scores
def sharpness(images: torch.Tensor) -> torch.Tensor:
    """Mean absolute horizontal and vertical finite difference, ``[B, C, H, W] -> 0-dim``."""
    dx = (images[..., :, 1:] - images[..., :, :-1]).abs().mean()
    dy = (images[..., 1:, :] - images[..., :-1, :]).abs().mean()
    return (dx + dy) / 2


def scores(x_hat: torch.Tensor, x: torch.Tensor) -> dict[str, float]:
    """Held-out MSE, 3-scale MS-SSIM and the sharpness ratio of ``x_hat`` to ``x``."""
    return {
        "mse": float(F.mse_loss(x_hat, x)),
        "ms_ssim": float(ms_ssim(x_hat, x, weights=(0.3, 0.4, 0.3), window_size=7).mean()),
        "sharpness": float(sharpness(x_hat) / sharpness(x)),
    }


def train_all(
    steps: int, seed: int, batch_size: int, num_train: int, held_out: torch.Tensor
) -> dict[str, tuple[dict[str, float], torch.Tensor]]:
    """Train every objective from the same start; scores and held-out reconstructions."""
    train = striped_shapes(num_train, seed=1000 + seed)
    results = {}
    for objective in OBJECTIVES:
        model = make_model(objective, steps, seed)
        run = fit(model, train, max_steps=steps, epochs=None, batch_size=batch_size, lr=2e-3,
                  seed=seed, progress=False, loggers=False)  # fmt: skip
        model.eval()
        with torch.no_grad():
            x_hat = model(held_out).x_hat.clamp(0, 1)
        score = {**scores(x_hat, held_out), "ms_per_step": 1e3 * run.wall_time / run.steps}
        results[objective] = (score, x_hat)
    return results


def plot(held_out: torch.Tensor, results: dict[str, torch.Tensor], path: Path) -> None:
    rows: list[tuple[str, torch.Tensor]] = [("held-out originals", held_out), *results.items()]
    columns = 8
    fig, axes = plt.subplots(len(rows), columns, figsize=(columns * 1.1, len(rows) * 1.25))
    for r, (title, images) in enumerate(rows):
        for c in range(columns):
            axes[r, c].imshow(images[c].permute(1, 2, 0).numpy(), interpolation="nearest")
            axes[r, c].axis("off")
        axes[r, 0].set_title(title, loc="left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(out: Path, steps: int, seed: int, batch_size: int, num_train: int) -> None:
    held_out = striped_shapes(256, seed=1)
    results = train_all(steps, seed, batch_size, num_train, held_out)
    print(f"data: striped shapes 3x64x64, {num_train} training images, 256 held out")
    print(f"{steps} steps of {batch_size}, seed {seed}; latent 4x16x16")
    for objective, (score, _) in results.items():
        print(
            f"{objective}: MSE {score['mse']:.5f}, MS-SSIM {score['ms_ssim']:.4f}, "
            f"sharpness {score['sharpness']:.3f} ({score['ms_per_step']:.0f} ms/step)"
        )
    out.mkdir(parents=True, exist_ok=True)
    plot(held_out, {name: x_hat for name, (_, x_hat) in results.items()}, out / FIGURE)
    print(f"wrote {out / FIGURE}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_out = Path(os.environ.get("PYAUTOENCODER_EXAMPLES_OUT", "."))
    parser.add_argument("--out", type=Path, default=default_out)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--num-train", type=int, default=4096)
    args = parser.parse_args()
    main(args.out, args.steps, args.seed, args.batch_size, args.num_train)
