r"""Finite scalar quantization (Mentzer, Minnen, Agustsson & Tschannen 2023)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from .._validation import check_positive_int
from ._helpers import flatten_codes, unflatten_codes
from ._protocol import Quantizer, QuantizerOutput, zero_loss


def check_levels(levels: object) -> tuple[int, ...]:
    """``levels``: a non-empty sequence of ints >= 2 (the number of values per channel)."""
    if isinstance(levels, (str, bytes)) or not isinstance(levels, Sequence) or not levels:
        raise ValueError(
            f"levels must be a non-empty sequence of ints >= 2 such as [8, 5, 5, 5], got {levels!r}"
        )
    checked = []
    for level in levels:
        if isinstance(level, bool) or not isinstance(level, int) or level < 2:
            raise ValueError(
                f"levels must be a non-empty sequence of ints >= 2 such as [8, 5, 5, 5], got "
                f"{list(levels)!r} (entry {level!r})"
            )
        checked.append(level)
    return tuple(checked)


class FSQ(Quantizer):
    r"""Finite scalar quantization: round each of ``d`` bounded channels to a few levels.

    Mentzer et al. (2023), *Finite scalar quantization: VQ-VAE made simple* (section 3 and
    appendix A.1). With ``levels = [L_1, ..., L_d]`` the implicit codebook is the grid of
    ``prod(L_i)`` points; channel ``i`` is bounded and rounded,

    .. math::

        f(z_i) = \tfrac{(L_i - 1)(1 + \epsilon)}{2} \tanh(z_i + s_i) - o_i, \qquad
        \hat z_i = \mathrm{round}(f(z_i)) / \lfloor L_i / 2 \rfloor,

    with ``o_i = 1/2`` for even ``L_i`` (else 0) and ``s_i = atanh(o_i / h_i)`` so that the
    ``L_i`` integers ``-floor(L_i/2) ... `` are reached; the rounding passes gradients straight
    through (``f + sg[round(f) - f]``). Values lie in ``[-1, 1]``. There is no codebook and no
    auxiliary loss (``loss = 0``), and every code can be reached, so the codebook cannot
    collapse. Index of a code: the mixed-radix number of its digits ``round(f) + floor(L/2)``,
    with ``L_1`` the fastest digit; :meth:`codes_from_indices` inverts it exactly.

    When ``dim != len(levels)``, learned linear maps project the input to ``len(levels)``
    channels and the rounded values back to ``dim`` (as the paper does with the encoder's last
    layer).

    Parameters
    ----------
    levels : sequence of int
        Levels per channel, each >= 2 (paper: ``[8, 5, 5, 5]`` for ``2^10`` codes,
        ``[8, 8, 8, 5, 5, 5]`` for ``2^16``).
    dim : int, optional
        Input channels ``D`` (default ``len(levels)``: no projections).
    eps : float
        The ``epsilon`` that keeps the outer levels reachable (default ``1e-3``).

    Diagnostics
    -----------
    ``perplexity`` and ``codes_used`` of the batch.
    """

    basis: torch.Tensor
    half_width: torch.Tensor
    level_sizes: torch.Tensor
    scale: torch.Tensor
    offset: torch.Tensor
    shift: torch.Tensor

    def __init__(self, levels: Sequence[int], dim: int | None = None, eps: float = 1e-3) -> None:
        super().__init__()
        self.levels = check_levels(levels)
        self.code_dim = len(self.levels)
        self.dim = self.code_dim if dim is None else check_positive_int(dim, "dim")
        self.num_codes = math.prod(self.levels)
        self.eps = float(eps)
        self.project_in: nn.Module = nn.Identity()
        self.project_out: nn.Module = nn.Identity()
        if self.dim != self.code_dim:
            self.project_in = nn.Linear(self.dim, self.code_dim)
            self.project_out = nn.Linear(self.code_dim, self.dim)
        basis = [math.prod(self.levels[:i]) for i in range(self.code_dim)]
        self.register_buffer("basis", torch.tensor(basis, dtype=torch.long), persistent=False)
        self.register_buffer("level_sizes", torch.tensor(self.levels), persistent=False)
        sizes = torch.tensor(self.levels, dtype=torch.float64)
        scale = (sizes - 1) * (1 + self.eps) / 2  # h_i
        offset = torch.where(torch.remainder(sizes, 2) == 0, 0.5, 0.0)  # o_i
        constants = {
            "half_width": torch.floor(sizes / 2),
            "scale": scale,
            "offset": offset,
            "shift": torch.atanh(offset / scale),  # s_i
        }
        for name, value in constants.items():  # float buffers follow .double()/.half()
            self.register_buffer(name, value.float(), persistent=False)

    def extra_repr(self) -> str:
        return f"levels={list(self.levels)}, dim={self.dim}, num_codes={self.num_codes}"

    def bound(self, z: torch.Tensor) -> torch.Tensor:
        """``f(z)`` of the class docstring for rows ``z [N, d]`` (channels last)."""
        return torch.tanh(z + self.shift) * self.scale - self.offset

    def _digits_to_indices(self, digits: torch.Tensor) -> torch.Tensor:
        return (digits * self.basis).sum(dim=-1)

    def forward(self, z: torch.Tensor, update: bool | None = None) -> QuantizerOutput:
        """Quantise ``z [B, D, *S]`` (``update`` is ignored: FSQ has no state)."""
        self.check_input(z)
        flat = self.project_in(flatten_codes(z))  # [N, d]
        bounded = self.bound(flat)
        rounded = bounded + (torch.round(bounded) - bounded).detach()  # straight-through
        half_width = self.half_width.to(flat.dtype)
        values = rounded / half_width  # [N, d] in [-1, 1]
        digits = (torch.round(bounded).detach() + half_width).long()  # [N, d]
        indices = self._digits_to_indices(digits).reshape(z.shape[0], *z.shape[2:])
        z_q = unflatten_codes(self.project_out(values), z)
        return QuantizerOutput(
            z_q=z_q, indices=indices, loss=zero_loss(z), diagnostics=self.batch_usage(indices)
        )

    def codes_from_indices(self, indices: torch.Tensor) -> torch.Tensor:
        """Grid values for ``indices [B, *S]`` -> ``[B, D, *S]`` (``[B, D]`` for ``[B]``)."""
        indices = self.check_indices(indices)
        digits = (indices.unsqueeze(-1) // self.basis) % self.level_sizes  # [B, *S, d]
        half_width = self.half_width
        values = (digits.to(half_width.dtype) - half_width) / half_width
        weight = getattr(self.project_out, "weight", None)
        if weight is not None:
            values = values.to(weight.dtype)
        codes = self.project_out(values)  # [B, *S, D]
        return codes.movedim(-1, 1) if indices.dim() > 1 else codes
