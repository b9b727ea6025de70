"""A TopK sparse autoencoder recovers the features hidden in superposition.

``data.superposition`` draws sparse ground-truth features (each active with a small
probability) embedded in fewer dimensions than there are features, and returns the true
dictionary. A ``dictionary.TopKSAE`` with ``k`` equal to the mean number of active features is
trained with a plain PyTorch loop (note ``after_optimizer_step()``, which keeps the dictionary
columns at unit norm); the script prints the mean max cosine similarity (MMCS) between the
learned and the true dictionary (and of a random one, for scale), and the held-out L0, FVU
and dead latents.
Run: ``python examples/sparse_autoencoder.py``.
"""

from __future__ import annotations

import argparse

import torch

from pyautoencoder.data import TensorBatches, superposition
from pyautoencoder.dictionary import TopKSAE
from pyautoencoder.evaluation import mean_max_cosine_similarity, sparse_code_metrics


def main(epochs: int, num_features: int, dim: int, active: int) -> float:
    torch.manual_seed(0)
    data = superposition(num_features, dim, sparsity=1 - active / num_features, num_examples=20_000)
    model = TopKSAE(input_dim=dim, num_latents=2 * num_features, k=active)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(epochs):
        for (x,) in TensorBatches(data.train_x, batch_size=256, shuffle=True):
            loss = model.compute_loss(x, model(x))
            optimizer.zero_grad()
            loss.objective.backward()
            optimizer.step()
            model.after_optimizer_step()  # dictionary columns back to unit norm
    mmcs = float(mean_max_cosine_similarity(model.W_dec.detach(), data.dictionary))
    untrained = TopKSAE(input_dim=dim, num_latents=2 * num_features, k=active).W_dec.detach()
    chance = float(mean_max_cosine_similarity(untrained, data.dictionary))
    metrics = sparse_code_metrics(model, data.test_x)
    print(f"{num_features} true features in {dim} dimensions, {active} active per example")
    print(f"MMCS to the true dictionary: {mmcs:.3f} (random dictionary: {chance:.3f})")
    print(
        f"held-out L0 {metrics.l0:.2f}, FVU {metrics.fvu:.3f}, "
        f"dead latents {100 * metrics.dead_fraction:.1f}%"
    )
    return mmcs


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=10, help="passes over the data (10)")
    parser.add_argument("--features", type=int, default=128, help="true features (128)")
    parser.add_argument("--dim", type=int, default=32, help="embedding dimension (32)")
    parser.add_argument("--active", type=int, default=4, help="mean active features (4)")
    args = parser.parse_args()
    main(args.epochs, args.features, args.dim, args.active)
