"""L2 vs L2 + MS-SSIM vs L2 + perceptual reconstruction training on ``shapes`` (64x64).

The same conv autoencoder (``create_model("ae", net="conv")``), the same seed, steps, batches
and optimizer for each objective; held-out reconstructions are scored by MSE, 3-scale MS-SSIM
(7-pixel window) and sharpness (mean finite-difference gradient magnitude of the
reconstruction, as a ratio to that of the targets: 1 = as sharp as the data, < 1 = blurred).

No pretrained feature network is available offline, so the perceptual loss runs over a frozen
*random-weight* 3-layer conv net (seeded): a weaker stand-in for LPIPS/VGG features, stated in
the table. Run::

    python benchmarks/image_losses.py            # 300 steps
    python benchmarks/image_losses.py --quick    # 30 steps, a smoke test
"""

from __future__ import annotations

import argparse
import time

import torch
from _common import machine_lines, set_threads, table
from torch import nn
from torch.nn import functional as F

from pyautoencoder.data import shapes
from pyautoencoder.loss import MSSSIM, Perceptual, ms_ssim
from pyautoencoder.nets import create_model

SCALES = (0.3, 0.4, 0.3)
WINDOW = 7


def _random_features() -> nn.Module:
    torch.manual_seed(123)

    class Features(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.blocks = nn.ModuleList(
                [
                    nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU()),
                    nn.Sequential(nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU()),
                    nn.Sequential(nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.ReLU()),
                ]
            )

        def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
            maps = []
            for block in self.blocks:
                x = block(x)
                maps.append(x)
            return maps

    return Features()


def _sharpness(images: torch.Tensor) -> torch.Tensor:
    dx = (images[..., :, 1:] - images[..., :, :-1]).abs().mean()
    dy = (images[..., 1:, :] - images[..., :-1, :]).abs().mean()
    return (dx + dy) / 2


def _objectives() -> dict[str, object]:
    msssim = MSSSIM(weights=SCALES, window_size=WINDOW)
    perceptual = Perceptual(_random_features())
    return {
        "L2": lambda x_hat, x: F.mse_loss(x_hat, x),
        "L2 + 0.2 MS-SSIM": lambda x_hat, x: F.mse_loss(x_hat, x) + 0.2 * msssim(x_hat, x),
        "L2 + 0.1 perceptual (random features)": lambda x_hat, x: (
            F.mse_loss(x_hat, x) + 0.1 * perceptual(x_hat, x)
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--quick", action="store_true", help="30 steps")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    steps = 30 if args.quick else args.steps
    set_threads(args.threads)
    data = shapes()
    train, test = data.train_x, data.test_x[:256]
    rows = []
    for name, objective in _objectives().items():
        torch.manual_seed(0)
        model = create_model("ae", (1, 64, 64), 32, net="conv", channels=(32, 64, 128))
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        order = torch.randint(
            0, len(train), (steps, args.batch_size), generator=torch.Generator().manual_seed(0)
        )
        start = time.perf_counter()
        for step in range(steps):
            x = train[order[step]]
            loss = objective(model.decoder(model.encoder(x)), x)  # type: ignore[operator]
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        seconds = time.perf_counter() - start
        model.eval()
        with torch.no_grad():
            x_hat = model.decoder(model.encoder(test)).clamp(0, 1)
            rows.append(
                [
                    name,
                    f"{F.mse_loss(x_hat, test).item():.5f}",
                    f"{ms_ssim(x_hat, test, weights=SCALES, window_size=WINDOW).mean().item():.4f}",
                    f"{(_sharpness(x_hat) / _sharpness(test)).item():.3f}",
                    f"{1e3 * seconds / steps:.1f}",
                ]
            )
    print("\n".join(machine_lines(args.threads)))
    print(
        f"- shapes 64x64, conv AE (32-64-128, D=32), Adam 1e-3, {steps} steps of "
        f"{args.batch_size}; 256 held-out images"
    )
    print()
    print(
        table(
            ["objective", "held-out MSE", "MS-SSIM (3 scales)", "sharpness ratio", "ms/step"], rows
        )
    )


if __name__ == "__main__":
    main()
