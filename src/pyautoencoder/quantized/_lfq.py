r"""Lookup-free quantization (MAGVIT-v2) and its spherical variant (BSQ)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .._validation import check_positive_int, check_weight
from ._helpers import check_bool, check_real, flatten_codes, sum_per_example_mean, unflatten_codes
from ._protocol import Quantizer, QuantizerOutput

#: Above this many bits the codebook entropy uses the per-bit (factorised) form.
MAX_EXACT_BITS = 16


def all_codes(bits: int, dtype: torch.dtype, device: torch.device | None = None) -> torch.Tensor:
    """``[2^d, d]`` the ``+-1`` codes; row ``k`` has ``+1`` in channel ``i`` iff bit ``i`` of k."""
    k = torch.arange(2**bits, device=device).unsqueeze(1)
    bits_set = (k >> torch.arange(bits, device=device)) & 1
    return bits_set.to(dtype) * 2 - 1


def entropy_terms(
    u: torch.Tensor, temperature: float, scale: float, exact: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Per-sample entropy ``E_n[H(q_n)]`` and codebook entropy ``H(E_n[q_n])`` (nats).

    ``q_n(c) = softmax_c(-||u_n - s c||^2 / tau)`` over the ``2^d`` codes ``s c``, ``c in
    {-1, 1}^d`` (``s = scale``). Because the squared distance splits over channels, ``q_n`` is a
    product of independent bits with ``P(c_i = 1) = sigmoid(4 s u_ni / tau)``, so the
    per-sample entropy is the sum of the bits' binary entropies. The average ``E_n[q_n]`` is no
    longer a product: with ``exact`` it is formed over all ``2^d`` codes, otherwise its
    entropy is replaced by the sum of the bits' averaged entropies (an upper bound).
    """
    logits = 4.0 * scale * u / temperature  # [N, d]: log P(bit = 1) - log P(bit = 0)
    p_one = torch.sigmoid(logits)
    bit_entropy = F.binary_cross_entropy_with_logits(logits, p_one, reduction="none")  # [N, d]
    per_sample = bit_entropy.sum(dim=1).mean()
    if exact:
        codes = all_codes(u.shape[1], u.dtype, u.device)  # [2^d, d]
        log_q = torch.log_softmax(2.0 * scale * u @ codes.T / temperature, dim=1)  # [N, 2^d]
        average = log_q.exp().mean(dim=0)  # [2^d]
        codebook = _entropy(average)
    else:
        average_bit = p_one.mean(dim=0)  # [d]
        codebook = _entropy(average_bit) + _entropy(1 - average_bit)
    return per_sample, codebook


def _entropy(probs: torch.Tensor) -> torch.Tensor:
    """``-sum p log p`` with a finite gradient at ``p = 0`` (``entr``'s is infinite there, and
    an unused code would turn the gradient into NaN)."""
    tiny = torch.finfo(probs.dtype).tiny
    return -(probs * probs.clamp_min(tiny).log()).sum()


class LFQ(Quantizer):
    r"""Lookup-free quantization: each of ``d`` channels becomes one bit, ``2^d`` codes.

    Yu et al. (2023), *Language model beats diffusion: tokenizer is key to visual generation*
    (MAGVIT-v2, section 3.1, eq. 3-5): ``q(z)_i = sign(z_i)`` (``+1`` for ``z_i > 0``), index
    ``sum_i [z_i > 0] 2^i``, straight-through gradients. The auxiliary loss

    .. math::

        \mathcal{L} = w_{\text{commit}} \lVert z - \mathrm{sg}[q(z)] \rVert^2
            + w_{\text{ent}} \big( \mathbb{E}_n[H(q_n)] - \gamma\, H(\mathbb{E}_n[q_n]) \big)

    pushes each input to a confident bit pattern (low per-sample entropy) while using every
    code (high entropy of the batch-average distribution); the distributions ``q_n`` are the
    softmax of ``-||z_n - c||^2 / tau`` over the codes (see :func:`entropy_terms`; exact over
    ``2^d`` codes up to ``d = 16``, per-bit above).

    **BSQ** (``spherical=True``; Zhao, Xiong & Krähenbühl 2024, *Image and video tokenization
    with binary spherical quantization*, eq. 2-3): the input is l2-normalised first and the
    codes are ``c / sqrt(d)`` on the unit sphere, which bounds the quantisation error.

    When ``dim != bits`` learned linear maps project in and out (the paper's projections).

    Parameters
    ----------
    bits : int
        ``d``, the number of channels that are quantised (``2^d`` codes; ``lfq:10`` = 1,024).
    dim : int, optional
        Input channels (default ``bits``).
    entropy_weight : float
        ``w_ent`` (default 0.1, as the paper).
    diversity_weight : float
        ``gamma``, the weight of the codebook entropy inside the entropy term (default 1).
    commitment_weight : float
        ``w_commit`` (default 0.25).
    temperature : float
        ``tau`` of the code distributions (default 0.01).
    spherical : bool
        BSQ instead of LFQ (default ``False``).

    Diagnostics
    -----------
    ``per_sample_entropy``, ``codebook_entropy`` (nats), ``commitment_loss``, ``perplexity``,
    ``codes_used``.
    """

    powers: torch.Tensor
    code_scale: torch.Tensor

    def __init__(
        self,
        bits: int,
        dim: int | None = None,
        *,
        entropy_weight: float = 0.1,
        diversity_weight: float = 1.0,
        commitment_weight: float = 0.25,
        temperature: float = 0.01,
        spherical: bool = False,
    ) -> None:
        super().__init__()
        self.bits = check_positive_int(bits, "bits")
        if self.bits > 62:
            raise ValueError(f"bits must be <= 62 (int64 indices), got {bits}")
        self.dim = self.bits if dim is None else check_positive_int(dim, "dim")
        self.num_codes = 2**self.bits
        self.entropy_weight = float(check_weight(entropy_weight, "entropy_weight"))
        self.diversity_weight = float(check_weight(diversity_weight, "diversity_weight"))
        self.commitment_weight = float(check_weight(commitment_weight, "commitment_weight"))
        self.temperature = check_real(
            temperature, "temperature", 0.0, float("inf"), "(0, inf)", lower_open=True
        )
        self.spherical = check_bool(spherical, "spherical")
        self.scale = self.bits**-0.5 if self.spherical else 1.0
        self.project_in: nn.Module = nn.Identity()
        self.project_out: nn.Module = nn.Identity()
        if self.dim != self.bits:
            self.project_in = nn.Linear(self.dim, self.bits)
            self.project_out = nn.Linear(self.bits, self.dim)
        self.register_buffer(
            "powers", 2 ** torch.arange(self.bits, dtype=torch.long), persistent=False
        )
        # a float buffer, so that the codes follow the module's dtype (.double(), .half())
        self.register_buffer("code_scale", torch.tensor(self.scale), persistent=False)

    def extra_repr(self) -> str:
        return f"bits={self.bits}, dim={self.dim}, spherical={self.spherical}"

    def forward(self, z: torch.Tensor, update: bool | None = None) -> QuantizerOutput:
        """Quantise ``z [B, D, *S]`` (``update`` is ignored: LFQ has no state)."""
        self.check_input(z)
        u = self.project_in(flatten_codes(z))  # [N, d]
        if self.spherical:
            u = F.normalize(u, dim=1)
        positive = u > 0
        q = torch.where(positive, self.scale, -self.scale).to(u.dtype)  # [N, d]
        u_in = unflatten_codes(u, z)
        q_grid = unflatten_codes(q, z)
        commitment = sum_per_example_mean((u_in - q_grid).square())
        per_sample, codebook = entropy_terms(
            u, self.temperature, self.scale, exact=self.bits <= MAX_EXACT_BITS
        )
        entropy = per_sample - self.diversity_weight * codebook
        loss = self.commitment_weight * commitment + self.entropy_weight * entropy
        straight = u + (q - u).detach()
        indices = (positive.long() * self.powers).sum(dim=1).reshape(z.shape[0], *z.shape[2:])
        diagnostics = {
            "per_sample_entropy": per_sample.detach(),
            "codebook_entropy": codebook.detach(),
            "commitment_loss": commitment.detach(),
            **self.batch_usage(indices),
        }
        z_q = unflatten_codes(self.project_out(straight), z)
        return QuantizerOutput(z_q=z_q, indices=indices, loss=loss, diagnostics=diagnostics)

    def codes_from_indices(self, indices: torch.Tensor) -> torch.Tensor:
        """``+-scale`` codes for ``indices [B, *S]`` -> ``[B, D, *S]`` (``[B, D]`` for ``[B]``)."""
        indices = self.check_indices(indices)
        bits_set = (indices.unsqueeze(-1) // self.powers) % 2  # [B, *S, d]
        values = (bits_set.to(self.code_scale.dtype) * 2 - 1) * self.code_scale
        codes = self.project_out(values)
        return codes.movedim(-1, 1) if indices.dim() > 1 else codes
