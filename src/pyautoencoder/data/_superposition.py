r"""Toy models of superposition: sparse ground-truth features embedded in fewer dimensions."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .._validation import check_positive_int


@dataclass(frozen=True)
class Superposition:
    """Examples with known sparse features and the dictionary that embeds them.

    Attributes
    ----------
    train_x, test_x : torch.Tensor
        Float32 examples ``[N_train, dim]`` and ``[N_test, dim]``, ``x = f W^T (+ noise)``.
    train_features, test_features : torch.Tensor
        The sparse feature activations ``f`` that made them, ``[N, num_features]``.
    dictionary : torch.Tensor
        The true dictionary ``W [dim, num_features]`` with unit-norm columns; compare a
        learned one with :func:`pyautoencoder.evaluation.mean_max_cosine_similarity`.
    """

    train_x: torch.Tensor
    test_x: torch.Tensor
    train_features: torch.Tensor
    test_features: torch.Tensor
    dictionary: torch.Tensor


def _check_fraction(value: object, name: str, *, closed_low: bool, closed_high: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a float, got {type(value).__name__} {value!r}")
    number = float(value)
    low_ok = number >= 0.0 if closed_low else number > 0.0
    high_ok = number <= 1.0 if closed_high else number < 1.0
    if not (math.isfinite(number) and low_ok and high_ok):
        interval = ("[" if closed_low else "(") + "0, 1" + ("]" if closed_high else ")")
        raise ValueError(f"{name} must lie in {interval}, got {value}")
    return number


def superposition(
    num_features: int,
    dim: int,
    sparsity: float,
    *,
    num_examples: int = 10_000,
    test_fraction: float = 0.2,
    noise_std: float = 0.0,
    seed: int = 0,
) -> Superposition:
    r"""Sparse features in superposition, the test bed of sparse dictionary learning.

    Following Elhage et al. (2022, *Toy Models of Superposition*, sec. 2) and Sharkey, Braun &
    Millidge (2022, *Taking features out of superposition with sparse autoencoders*): each of
    ``F = num_features`` features is zero with probability ``sparsity`` (``S``) and otherwise
    uniform on ``[0, 1]``, independently; the feature vector ``f [F]`` is embedded in
    ``dim < F`` dimensions by a random dictionary ``W [dim, F]`` with unit-norm columns,

    .. math:: x = W f + \epsilon, \qquad \epsilon \sim \mathcal{N}(0, \sigma^2 I).

    On average ``(1 - S) F`` features are active per example; a sparse autoencoder with that
    ``k`` should recover ``W`` up to permutation.

    Parameters
    ----------
    num_features : int
        ``F``, the number of ground-truth features.
    dim : int
        The embedding dimension ``D`` (usually ``D < F``: superposition).
    sparsity : float
        ``S`` in ``[0, 1)``: the probability that a feature is zero.
    num_examples : int
        Examples in total (training plus held-out; default 10,000).
    test_fraction : float
        Share held out, in ``(0, 1)`` (default 0.2).
    noise_std : float
        ``sigma`` >= 0 of additive Gaussian noise (default 0).
    seed : int
        Seed of the dictionary, the features and the noise.

    Returns
    -------
    Superposition
        The split examples, their features and the true dictionary.
    """
    num_features = check_positive_int(num_features, "num_features")
    dim = check_positive_int(dim, "dim")
    num_examples = check_positive_int(num_examples, "num_examples")
    sparsity = _check_fraction(sparsity, "sparsity", closed_low=True, closed_high=False)
    test_fraction = _check_fraction(
        test_fraction, "test_fraction", closed_low=False, closed_high=False
    )
    if isinstance(noise_std, bool) or not isinstance(noise_std, (int, float)):
        raise TypeError(f"noise_std must be a float >= 0, got {noise_std!r}")
    if not math.isfinite(noise_std) or noise_std < 0:
        raise ValueError(f"noise_std must be a finite float >= 0, got {noise_std}")
    num_test = round(test_fraction * num_examples)
    if not 0 < num_test < num_examples:
        raise ValueError(
            f"test_fraction={test_fraction} of num_examples={num_examples} leaves an empty "
            "training or held-out set"
        )
    generator = torch.Generator().manual_seed(int(seed))
    dictionary = torch.randn(dim, num_features, generator=generator)
    dictionary = dictionary / dictionary.norm(dim=0, keepdim=True)  # [D, F]
    active = torch.rand(num_examples, num_features, generator=generator) >= sparsity
    magnitudes = torch.rand(num_examples, num_features, generator=generator)
    features = magnitudes * active  # [N, F]
    x = features @ dictionary.T  # [N, D]
    if noise_std > 0:
        x = x + noise_std * torch.randn(x.shape, generator=generator)
    return Superposition(
        train_x=x[num_test:],
        test_x=x[:num_test],
        train_features=features[num_test:],
        test_features=features[:num_test],
        dictionary=dictionary,
    )
