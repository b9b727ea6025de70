r"""An autoregressive prior over a quantized model's code indices: VQ models that generate.

van den Oord, Vinyals & Kavukcuoglu (2017), section 3.2: after training a VQ-VAE, fit an
autoregressive model ``p(k) = prod_t p(k_t | k_<t)`` to the index grids of the training set
(they use a PixelCNN; van den Oord et al. 2016, *Conditional image generation with PixelCNN
decoders*); sampling the prior and decoding the indices generates data. Here the prior is a
small causal transformer (Vaswani et al. 2017; as in VQGAN, Esser, Rombach & Ommer 2021,
section 3.2) over the grid read in raster order, the ``Q`` indices of a position (residual or
grouped quantizers) innermost.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from .._base import ModelOutput
from .._validation import check_num_samples, check_positive_int, check_tensor
from ..loss._result import LossResult

_LOG2 = math.log(2.0)


@dataclass(slots=True, repr=False)
class CodePriorOutput(ModelOutput):
    """``logits [B, L, K]``: the next-code logits at each of the ``L`` sequence positions."""

    logits: torch.Tensor


class CodePrior(nn.Module):
    r"""Causal transformer prior over index grids ``[B, *index_shape]`` with ``K`` codes.

    The grid is flattened to a sequence ``k_1 .. k_L`` (``L = prod(index_shape)``); a start
    token is prepended and position ``t`` predicts ``k_t`` from ``k_<t`` through ``depth``
    pre-norm transformer layers with a causal mask. Objective (``compute_loss``): the mean
    negative log-likelihood per code in nats,

    .. math::

        \mathcal{L} = -\frac{1}{B L} \sum_b \sum_t \log p(k_{bt} \mid k_{b,<t}),

    reported also in bits per code (``bits_per_code = nll_per_code / ln 2``; a uniform prior
    over ``K`` codes scores ``log2 K``). Train it with :func:`pyautoencoder.training.fit` on
    the indices of a trained model (:func:`train_code_prior` does both), then
    :meth:`sample` draws new grids (``VQVAE.sample`` decodes them).

    Parameters
    ----------
    num_codes : int
        ``K``, the codebook size of the quantizer.
    index_shape : sequence of int
        Shape of one example's indices without the batch dimension: ``()`` for one code per
        example, ``(H, W)`` for a feature map, ``(Q,)`` or ``(H, W, Q)`` with ``Q`` codebooks.
    dim : int
        Width of the transformer (default 128).
    depth : int
        Number of layers (default 2).
    heads : int
        Attention heads; must divide ``dim`` (default 4).
    dropout : float
        Dropout inside the layers (default 0).
    """

    causal_mask: torch.Tensor

    def __init__(
        self,
        num_codes: int,
        index_shape: Sequence[int] = (),
        *,
        dim: int = 128,
        depth: int = 2,
        heads: int = 4,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.num_codes = check_positive_int(num_codes, "num_codes")
        self.index_shape = tuple(check_positive_int(s, "index_shape entry") for s in index_shape)
        self.sequence_length = math.prod(self.index_shape)
        self.dim = check_positive_int(dim, "dim")
        self.depth = check_positive_int(depth, "depth")
        self.heads = check_positive_int(heads, "heads")
        if self.dim % self.heads:
            raise ValueError(f"heads must divide dim, got dim={dim} and heads={heads}")
        self.dropout = float(dropout)
        self.token = nn.Embedding(self.num_codes + 1, self.dim)  # the last id: start token
        self.position = nn.Parameter(torch.randn(self.sequence_length, self.dim) * 0.02)
        layer = nn.TransformerEncoderLayer(
            self.dim,
            self.heads,
            dim_feedforward=4 * self.dim,
            dropout=self.dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.layers = nn.TransformerEncoder(layer, self.depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(self.dim)
        self.head = nn.Linear(self.dim, self.num_codes)
        mask = torch.triu(torch.ones(self.sequence_length, self.sequence_length), 1).bool()
        self.register_buffer("causal_mask", mask, persistent=False)

    def config(self) -> dict[str, Any]:
        """The constructor arguments (JSON), to rebuild the prior for its saved weights."""
        return {
            "num_codes": self.num_codes,
            "index_shape": list(self.index_shape),
            "dim": self.dim,
            "depth": self.depth,
            "heads": self.heads,
            "dropout": self.dropout,
        }

    def _check_indices(self, indices: torch.Tensor) -> torch.Tensor:
        check_tensor(indices, "indices")
        if indices.is_floating_point() or indices.dtype == torch.bool:
            raise TypeError(f"indices must be an integer tensor, got dtype {indices.dtype}")
        if tuple(indices.shape[1:]) != self.index_shape or indices.dim() < 1:
            raise ValueError(
                f"indices must have shape [B, *index_shape] = [B, "
                f"{', '.join(map(str, self.index_shape))}], got {tuple(indices.shape)}"
            )
        return indices.reshape(indices.shape[0], self.sequence_length).long()  # [B, L]

    def _logits(self, sequence: torch.Tensor) -> torch.Tensor:
        """Next-code logits ``[B, T, K]`` for ``sequence [B, T]`` (start token first)."""
        length = sequence.shape[1]
        hidden = self.token(sequence) + self.position[:length]
        mask = self.causal_mask[:length, :length]
        hidden = self.layers(hidden, mask=mask, is_causal=True)
        return self.head(self.norm(hidden))

    def _shifted(self, codes: torch.Tensor) -> torch.Tensor:
        start = torch.full_like(codes[:, :1], self.num_codes)
        return torch.cat([start, codes[:, :-1]], dim=1)  # [B, L]

    def forward(self, indices: torch.Tensor) -> CodePriorOutput:
        """Logits of ``p(k_t | k_<t)`` for every position of ``indices [B, *index_shape]``."""
        codes = self._check_indices(indices)
        return CodePriorOutput(logits=self._logits(self._shifted(codes)))

    def log_prob(self, indices: torch.Tensor) -> torch.Tensor:
        """``log p(k)`` in nats for each grid ``[B, *index_shape] -> [B]``."""
        codes = self._check_indices(indices)
        log_probs = torch.log_softmax(self._logits(self._shifted(codes)), dim=-1)
        return log_probs.gather(-1, codes.unsqueeze(-1)).squeeze(-1).sum(dim=1)

    def compute_loss(self, indices: torch.Tensor, output: CodePriorOutput) -> LossResult:
        """Mean NLL per code (nats); diagnostics ``nll_per_code`` and ``bits_per_code``."""
        codes = self._check_indices(indices)
        logits = output.logits
        nll = F.cross_entropy(logits.reshape(-1, self.num_codes), codes.reshape(-1))
        return LossResult(
            objective=nll,
            diagnostics={
                "nll_per_code": nll.detach(),
                "bits_per_code": (nll / _LOG2).detach(),
            },
        )

    @torch.no_grad()
    def sample(self, num_samples: int, temperature: float = 1.0) -> torch.Tensor:
        """Draw ``num_samples`` grids ``[N, *index_shape]`` (``int64``), one code at a time.

        ``temperature`` divides the logits (1: the model's distribution; lower: sharper).
        """
        num_samples = check_num_samples(num_samples, "num_samples")
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        device = self.head.weight.device
        sequence = torch.full((num_samples, 1), self.num_codes, device=device, dtype=torch.long)
        was_training = self.training
        self.eval()  # no dropout while sampling
        try:
            for _ in range(self.sequence_length):
                logits = self._logits(sequence)[:, -1] / temperature  # [N, K]
                drawn = torch.multinomial(torch.softmax(logits.float(), dim=-1), 1)  # [N, 1]
                sequence = torch.cat([sequence, drawn], dim=1)
        finally:
            self.train(was_training)
        return sequence[:, 1:].reshape(num_samples, *self.index_shape)


@torch.no_grad()
def model_indices(model: nn.Module, data: object, batch_size: int = 256) -> torch.Tensor:
    """The indices ``[N, *index_shape]`` a quantized model assigns to ``data`` (eval mode)."""
    from ..evaluation._code_usage import _batches

    was_training = model.training
    model.eval()
    try:
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
        parts = [
            model.encode(x.to(device)).indices  # type: ignore[operator]
            for x in _batches(data, batch_size)
        ]
    finally:
        model.train(was_training)
    return torch.cat(parts).cpu()


def train_code_prior(
    model: nn.Module,
    train_data: object,
    val_data: object = None,
    *,
    prior: CodePrior | None = None,
    epochs: int = 20,
    batch_size: int = 128,
    lr: float = 3e-4,
    **fit_options: Any,
) -> tuple[CodePrior, Any]:
    """Fit a :class:`CodePrior` to the indices a trained quantized ``model`` gives ``train_data``.

    The indices are computed once (eval mode, no codebook updates); the prior is trained with
    :func:`pyautoencoder.training.fit` (``fit_options`` are passed on) and attached to the
    model as ``model.code_prior`` (so that ``model.sample(n)`` works).

    Returns
    -------
    tuple
        The trained prior and :class:`~pyautoencoder.training.FitResult` (its validation
        ``bits_per_code`` is the held-out NLL in bits per code when ``val_data`` is given).
    """
    from ..training import fit

    train_indices = model_indices(model, train_data)
    val_indices = None if val_data is None else model_indices(model, val_data)
    if prior is None:
        num_codes = int(model.num_codes)  # type: ignore[arg-type]
        prior = CodePrior(num_codes, tuple(train_indices.shape[1:]))
    options = {"progress": False, **fit_options}
    result = fit(
        prior, train_indices, val_indices, epochs=epochs, batch_size=batch_size, lr=lr, **options
    )
    trained = cast(CodePrior, result.model)
    trained.to(next(model.parameters()).device)
    model.code_prior = trained
    return trained, result
