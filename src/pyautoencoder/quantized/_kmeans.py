r"""Lloyd's k-means on the device, for initialising a codebook from the first batch.

Lloyd (1982), *Least squares quantization in PCM*: alternate (1) assigning each vector to its
nearest centre and (2) moving each centre to the mean of its vectors, for a fixed number of
iterations (fixed shapes, no host synchronisation, so it also runs inside compiled graphs). A
centre that receives no vector keeps its value. Under ``torch.distributed`` the per-centre
sums and counts of step (2) are all-reduced, which is Lloyd's algorithm on the union of the
processes' batches (every process then holds the same centres).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Reduce = Callable[[torch.Tensor], None]


def squared_distances(x: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    """``||x_i - c_k||^2`` for ``x [N, D]``, ``centers [K, D]`` -> ``[N, K]`` (one matmul)."""
    return (
        x.square().sum(dim=1, keepdim=True)
        - 2.0 * x @ centers.T
        + centers.square().sum(dim=1).unsqueeze(0)
    )


def lloyd(
    x: torch.Tensor, centers: torch.Tensor, num_iters: int, all_reduce: Reduce | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run ``num_iters`` Lloyd iterations from ``centers [K, D]`` on ``x [N, D]``.

    Parameters
    ----------
    x : torch.Tensor
        ``[N, D]`` vectors.
    centers : torch.Tensor
        ``[K, D]`` starting centres (not modified).
    num_iters : int
        Iterations (each: assign, then move every non-empty centre to its cluster mean).
    all_reduce : callable, optional
        Sums a tensor in place over processes (``torch.distributed.all_reduce``); applied to
        the ``[K, D + 1]`` sums and counts of each iteration.

    Returns
    -------
    tuple of torch.Tensor
        The centres ``[K, D]`` and the cluster sizes ``[K]`` of the last assignment.
    """
    num_codes = centers.shape[0]
    centers = centers.clone()
    counts = torch.zeros(num_codes, device=x.device, dtype=x.dtype)
    for _ in range(num_iters):
        assign = squared_distances(x, centers).argmin(dim=1)  # [N]
        both = torch.zeros(num_codes, x.shape[1] + 1, device=x.device, dtype=x.dtype)
        rows = torch.cat([x, torch.ones_like(x[:, :1])], dim=1)  # [N, D + 1]
        both.index_add_(0, assign, rows)
        if all_reduce is not None:
            all_reduce(both)
        sums, counts = both[:, :-1], both[:, -1]
        means = sums / counts.clamp_min(1.0).unsqueeze(1)
        centers = torch.where((counts > 0).unsqueeze(1), means, centers)
    return centers, counts


def initial_centers(x: torch.Tensor, num_codes: int) -> torch.Tensor:
    """``num_codes`` rows of ``x [N, D]`` drawn with the global RNG (without replacement when
    ``N >= num_codes``), as Lloyd's starting centres ``[K, D]``."""
    if x.shape[0] >= num_codes:
        picks = torch.randperm(x.shape[0], device=x.device)[:num_codes]
    else:
        picks = torch.randint(x.shape[0], (num_codes,), device=x.device)
    return x[picks]
