r"""The vector-quantisation layer of VQ-VAE, usable on its own.

van den Oord, Vinyals & Kavukcuoglu (2017), *Neural discrete representation learning*:
nearest-code lookup, straight-through gradients, codebook and commitment losses (eq. 3), and the
exponential-moving-average codebook of their appendix A.1 (also Razavi, van den Oord & Vinyals
2019, *Generating diverse high-fidelity images with VQ-VAE-2*, appendix).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from .._validation import (
    check_floating,
    check_nonempty_batch,
    check_positive_int,
    check_tensor,
    check_weight,
)
from ._helpers import (
    check_bool,
    check_real,
    code_perplexity,
    flatten_codes,
    orthogonal_penalty,
    renamed_weight,
    sum_per_example_mean,
    unflatten_codes,
)
from ._kmeans import initial_centers, lloyd
from ._protocol import Quantizer, QuantizerOutput
from ._rotation import rotate_to_codes


@dataclass(slots=True, repr=False)
class VectorQuantizerOutput(QuantizerOutput):
    """What :class:`VectorQuantizer` returns for an input ``z`` of shape ``[B, D, *S]``.

    The fields of :class:`~pyautoencoder.quantized.QuantizerOutput` (``z_q``, ``indices``,
    ``loss``, ``diagnostics``) and the VQ terms by name.

    Attributes
    ----------
    z_q : torch.Tensor
        ``[B, D, *S]``: the chosen codes with straight-through gradients (their value is the
        code, their gradient w.r.t. ``z`` is the identity), or rotation-trick gradients.
        Also available as ``quantized`` (the 2.x name).
    indices : torch.Tensor
        ``[B, *S]`` (``int64``): the index of the code chosen at each position.
    loss : torch.Tensor
        0-dim: ``codebook_loss`` (only when the codebook is learned by gradient) plus
        ``commitment_weight * commitment_loss`` (plus the orthogonal penalty when enabled); add
        it to the reconstruction term.
    diagnostics : dict[str, torch.Tensor]
        The detached 0-dim ``codebook_loss``, ``commitment_loss``, ``perplexity``,
        ``codes_used`` (and ``orthogonal_loss`` when enabled).
    codebook_loss : torch.Tensor
        0-dim ``mean_b sum ||sg[z] - e||^2``; carries gradient to the codebook (zero gradient,
        reported only, with the EMA codebook).
    commitment_loss : torch.Tensor
        0-dim ``mean_b sum ||z - sg[e]||^2``; carries gradient to the encoder.
    perplexity : torch.Tensor
        Detached 0-dim ``exp(H(p))`` of the batch's code frequencies ``p`` (1 = a single code is
        used, ``num_codes`` = all codes equally often).
    codes_used : torch.Tensor
        Detached 0-dim fraction of the codebook chosen at least once in the batch.
    """

    codebook_loss: torch.Tensor
    commitment_loss: torch.Tensor
    perplexity: torch.Tensor
    codes_used: torch.Tensor

    @property
    def quantized(self) -> torch.Tensor:
        """``z_q`` under its 2.x name."""
        return self.z_q

    @quantized.setter
    def quantized(self, value: torch.Tensor) -> None:
        self.z_q = value


class VectorQuantizer(Quantizer):
    r"""Replace each ``D``-vector of the input by its nearest code of a learned codebook.

    Input ``z`` is ``[B, D]`` (one code per example) or channel-first ``[B, D, *S]`` (feature
    maps ``[B, D, H, W]``, sequences ``[B, D, T]``: one code per position); ``D = code_dim``.
    With codebook ``e [K, D]``, each position gets ``k = argmin_j ||z - e_j||^2`` and the output
    is ``e_k`` with the straight-through estimator ``z + sg[e_k - z]`` (its gradient w.r.t.
    ``z`` is the identity; ``sg`` = stop gradient). The losses of van den Oord et al. (2017,
    eq. 3), each summed over the code elements of an example and averaged over the batch:

    .. math::

        \mathcal{L}_{\text{codebook}} = \lVert \mathrm{sg}[z] - e_k \rVert_2^2, \qquad
        \mathcal{L}_{\text{commit}} = \lVert z - \mathrm{sg}[e_k] \rVert_2^2, \qquad
        \texttt{loss} = \mathcal{L}_{\text{codebook}} + \beta\,\mathcal{L}_{\text{commit}}

    (``beta = commitment_weight``).

    **EMA codebook** (``ema=True``, the default; van den Oord et al. 2017, appendix A.1; Razavi
    et al. 2019): the codebook is not trained by gradient (``loss`` drops the codebook term)
    but updated in each training-mode forward from the ``n_k`` vectors assigned to code ``k``,

    .. math::

        N_k \leftarrow \gamma N_k + (1 - \gamma) n_k, \quad
        m_k \leftarrow \gamma m_k + (1 - \gamma) \textstyle\sum_{i: k_i = k} z_i, \quad
        e_k = m_k / \tilde N_k, \quad
        \tilde N_k = \frac{N_k + \epsilon}{\sum_j N_j + K\epsilon} \sum_j N_j

    (``gamma = decay``; ``tilde N`` is the Laplace-smoothed cluster size, used only in the
    division; the stored ``N`` is unsmoothed). Differences from the paper: ``N`` starts at 1 and
    ``m`` at the initial codes (as if each code had been chosen once), so an unused code keeps
    its value instead of being divided by ~``eps`` (no zero-debiasing needed). ``N``, ``m`` and
    the codebook are buffers: ``state_dict`` is the whole learned state.

    **Dead codes**: with ``dead_code_steps`` (codes not chosen in that many consecutive training
    steps) and/or ``dead_code_threshold`` (EMA cluster size ``N_k`` below it; EMA only), a
    training-mode forward first replaces every dead code by a vector of the current batch drawn
    at random (:meth:`reinit_dead_codes`). The reset is written with fixed shapes
    (``torch.randint`` candidates, ``torch.where`` over the codebook, no host synchronisation),
    so it runs the same way in eager mode and inside ``torch.compile(fullgraph=True)`` graphs;
    :meth:`reinit_dead_codes` can also be called on its own, with a batch of your choice.

    **Distributed training** (``sync_statistics=True``, the default): when
    ``torch.distributed`` is initialised with more than one process, a training-mode forward
    sums the per-code counts ``n_k`` and vector sums over all processes (one ``all_reduce`` of
    a ``[K, D + 1]`` tensor) before the EMA step and the usage counters, so every process applies
    the update of the global batch, as single-process training on the concatenated batches
    would; the candidates of a dead-code reset are those of rank 0. The codebook buffers
    thus stay identical on every process without relying on ``DistributedDataParallel``'s
    buffer broadcast. Every process must then run the same number of training-mode forwards
    (as DDP training does); ``sync_statistics=False`` keeps the statistics per process.

    **Cosine similarity** (``cosine=True``): inputs and codes are l2-normalised before the
    lookup, so ``k = argmax_j <z/|z|, e_j/|e_j|>``; ``quantized``, the losses and the EMA
    statistics use the normalised vectors (the straight-through gradient is then the identity
    w.r.t. the normalised input).

    Codes start uniform in ``[-1/K, 1/K]`` (as common VQ-VAE implementations do).

    **k-means initialisation** (``kmeans_init=True``): the first training-mode forward replaces
    the codebook by ``kmeans_iters`` iterations of Lloyd's algorithm on the batch (starting from
    ``K`` of its vectors; on the device, all-reduced under ``torch.distributed``), as in
    Zeghidour et al. (2021, SoundStream, section 3.3); the EMA statistics start from the
    cluster sizes. A buffer ``initialized`` records it (in ``state_dict``), so a loaded
    quantizer is not re-initialised.

    **Lower-dimensional codebook** (``codebook_dim < code_dim``; Yu et al. 2022, *Vector-
    quantized image modeling with improved VQGAN*, section 3.1): learned linear maps project
    the input to ``codebook_dim`` before the lookup and the chosen code back to ``code_dim``;
    losses, statistics and the lookup live in the small space (combine with ``cosine=True``
    for their l2-normalised codes).

    **Rotation trick** (``rotation_trick=True``; Fifty et al. 2024): the gradient reaches ``z``
    through the rotation and rescaling that maps ``z`` onto its code
    (:func:`~pyautoencoder.quantized._rotation.rotate_to_codes`) instead of the identity.

    **Orthogonal regularisation** (``orthogonal_weight > 0``, learned codebook only; Shin et al.
    2021, *Translation-equivariant image quantizer for bi-directional image-text generation*,
    eq. 4): adds ``w * ||E_hat E_hat^T - I||_F^2 / K^2`` with ``E_hat`` the l2-normalised codes,
    which spreads the codes apart.

    Parameters
    ----------
    num_codes : int
        ``K``, the codebook size (>= 1).
    code_dim : int
        ``D``, the size of each code; the input's dim 1 must equal it.
    commitment_weight : float
        Weight ``beta`` of the commitment loss (paper: 0.25). The 2.x name ``beta=`` still
        works and warns (``DeprecationWarning``).
    ema : bool
        EMA codebook updates (``True``) or a codebook learned by the codebook loss.
    decay : float
        ``gamma`` in ``[0, 1)`` (paper: 0.99).
    eps : float
        Laplace smoothing ``epsilon > 0`` (default ``1e-5``).
    cosine : bool
        Nearest code by cosine similarity of l2-normalised vectors.
    dead_code_steps : int, optional
        Re-initialise codes unused for this many consecutive training steps.
    dead_code_threshold : float, optional
        Re-initialise codes whose EMA cluster size falls below this (needs ``ema=True``).
    sync_statistics : bool
        All-reduce the code counts and sums across processes when ``torch.distributed`` is
        initialised (default ``True``); the diagnostics stay those of the local batch.
    kmeans_init : bool
        Initialise the codebook by k-means on the first training batch (default ``False``).
    kmeans_iters : int
        Lloyd iterations of the k-means initialisation (default 10).
    codebook_dim : int, optional
        Size of the codes when smaller than ``code_dim`` (learned projections in and out).
    rotation_trick : bool
        Rotation-trick gradients instead of straight-through (default ``False``).
    orthogonal_weight : float
        Weight of the orthogonal regulariser (default 0; needs ``ema=False``).

    Diagnostics
    -----------
    :class:`VectorQuantizerOutput` carries ``loss``, ``codebook_loss``, ``commitment_loss``,
    ``perplexity`` and ``codes_used`` as 0-dim tensors (the last two detached), and the same
    detached in ``diagnostics`` (with ``orthogonal_loss`` when enabled).
    """

    codebook: torch.Tensor
    ema_cluster_size: torch.Tensor
    ema_code_sum: torch.Tensor
    steps_since_used: torch.Tensor
    initialized: torch.Tensor

    def __init__(
        self,
        num_codes: int,
        code_dim: int,
        *,
        commitment_weight: float = 0.25,
        ema: bool = True,
        decay: float = 0.99,
        eps: float = 1e-5,
        cosine: bool = False,
        dead_code_steps: int | None = None,
        dead_code_threshold: float | None = None,
        sync_statistics: bool = True,
        kmeans_init: bool = False,
        kmeans_iters: int = 10,
        codebook_dim: int | None = None,
        rotation_trick: bool = False,
        orthogonal_weight: float = 0.0,
        beta: float | None = None,
    ) -> None:
        super().__init__()
        self.num_codes = check_positive_int(num_codes, "num_codes")
        self.code_dim = check_positive_int(code_dim, "code_dim")
        self.dim = self.code_dim
        self.commitment_weight = float(
            check_weight(renamed_weight(beta, commitment_weight, 0.25), "beta")
            if beta is not None
            else check_weight(commitment_weight, "commitment_weight")
        )
        self.ema = check_bool(ema, "ema")
        self.cosine = check_bool(cosine, "cosine")
        self.sync_statistics = check_bool(sync_statistics, "sync_statistics")
        self.decay = check_real(decay, "decay", 0.0, 1.0, "[0, 1)", upper_open=True)
        self.eps = check_real(eps, "eps", 0.0, float("inf"), "(0, inf)", lower_open=True)
        self.dead_code_steps = (
            None
            if dead_code_steps is None
            else check_positive_int(dead_code_steps, "dead_code_steps")
        )
        if dead_code_threshold is not None:
            if not self.ema:
                raise ValueError(
                    "dead_code_threshold compares the EMA cluster sizes and needs ema=True; "
                    "with ema=False use dead_code_steps"
                )
            dead_code_threshold = check_real(
                dead_code_threshold, "dead_code_threshold", 0.0, float("inf"), "(0, inf)", True
            )
        self.dead_code_threshold = dead_code_threshold
        self.kmeans_init = check_bool(kmeans_init, "kmeans_init")
        self.kmeans_iters = check_positive_int(kmeans_iters, "kmeans_iters")
        self.rotation_trick = check_bool(rotation_trick, "rotation_trick")
        self.orthogonal_weight = float(check_weight(orthogonal_weight, "orthogonal_weight"))
        if self.orthogonal_weight > 0 and self.ema:
            raise ValueError(
                "orthogonal_weight > 0 regularises a codebook learned by gradient and needs "
                "ema=False (the EMA codebook gets no gradient)"
            )
        self.codebook_dim = self.code_dim
        self.project_in: nn.Module = nn.Identity()
        self.project_out: nn.Module = nn.Identity()
        if codebook_dim is not None:
            self.codebook_dim = check_positive_int(codebook_dim, "codebook_dim")
            if self.codebook_dim != self.code_dim:
                self.project_in = nn.Linear(self.code_dim, self.codebook_dim)
                self.project_out = nn.Linear(self.codebook_dim, self.code_dim)
        initial = self._initial_codes()
        if self.ema:
            self.register_buffer("codebook", initial)
            self.register_buffer("ema_cluster_size", torch.ones(self.num_codes))
            self.register_buffer("ema_code_sum", initial.clone())
        else:
            self.codebook = nn.Parameter(initial)
        self.register_buffer("steps_since_used", torch.zeros(self.num_codes, dtype=torch.long))
        if self.kmeans_init:
            self.register_buffer("initialized", torch.zeros((), dtype=torch.bool))
        self._needs_kmeans = self.kmeans_init  # a Python flag: no host read per step

    @property
    def beta(self) -> float:
        """Deprecated name of :attr:`commitment_weight`."""
        warnings.warn("beta -> commitment_weight", DeprecationWarning, stacklevel=2)
        return self.commitment_weight

    def _initial_codes(self) -> torch.Tensor:
        bound = 1.0 / self.num_codes
        return torch.empty(self.num_codes, self.codebook_dim).uniform_(-bound, bound)

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Draw a fresh codebook (and projections); reset the EMA and usage statistics."""
        initial = self._initial_codes().to(self.codebook)
        self.codebook.copy_(initial)
        if self.ema:
            self.ema_cluster_size.fill_(1.0)
            self.ema_code_sum.copy_(initial)
        self.steps_since_used.zero_()
        for projection in (self.project_in, self.project_out):
            if isinstance(projection, nn.Linear):
                projection.reset_parameters()
        if self.kmeans_init:
            self.initialized.fill_(False)
            self._needs_kmeans = True

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args: object) -> None:
        super()._load_from_state_dict(state_dict, prefix, *args)
        if self.kmeans_init and prefix + "initialized" in state_dict:
            self._needs_kmeans = not bool(state_dict[prefix + "initialized"])

    def extra_repr(self) -> str:
        return (
            f"num_codes={self.num_codes}, code_dim={self.code_dim}, "
            f"commitment_weight={self.commitment_weight}, ema={self.ema}, "
            f"decay={self.decay}, cosine={self.cosine}"
        )

    # ----------------------------------------------------------------------------- lookup
    def codes(self) -> torch.Tensor:
        """The codebook as used for lookup, ``[K, D_c]`` (l2-normalised when ``cosine``)."""
        return F.normalize(self.codebook, dim=1) if self.cosine else self.codebook

    def get_codes(self, indices: torch.Tensor) -> torch.Tensor:
        """Codes for integer ``indices`` ``[B, *S]``: ``[B, D]`` for ``[B]``, else ``[B, D, *S]``.

        The inverse of the lookup: ``get_codes(out.indices)`` equals ``out.z_q`` in value (the
        chosen codes, mapped back to ``code_dim`` when ``codebook_dim`` is smaller).
        """
        indices = self.check_indices(indices)
        codes = self.project_out(F.embedding(indices, self.codes()))  # [B, *S, D]
        return codes.movedim(-1, 1) if indices.dim() > 1 else codes

    def codes_from_indices(self, indices: torch.Tensor) -> torch.Tensor:
        """The protocol's name of :meth:`get_codes`."""
        return self.get_codes(indices)

    def _check_input(self, z: torch.Tensor) -> None:
        check_tensor(z, "z")
        check_floating(z, "z")
        check_nonempty_batch(z, "z")
        expected = (
            f"z must be [B, D] or channel-first [B, D, ...] with D = code_dim = {self.code_dim}"
        )
        if z.dim() < 2:
            raise ValueError(f"{expected}, got shape {tuple(z.shape)} (no dim 1)")
        if z.shape[1] != self.code_dim:
            raise ValueError(
                f"{expected}, got shape {tuple(z.shape)} (dim 1 of size {z.shape[1]}); make "
                f"the encoder output {self.code_dim} features/channels or set "
                f"code_dim={z.shape[1]}"
            )

    check_input = _check_input

    def _lookup_space(self, z: torch.Tensor) -> torch.Tensor:
        """``z [B, D, *S]`` -> rows ``[N, D_c]`` as compared with the codes (projected,
        normalised when ``cosine``)."""
        flat = self.project_in(flatten_codes(z))  # [N, D_c]
        return F.normalize(flat, dim=1) if self.cosine else flat

    def _nearest(self, flat: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """Index of the nearest code for each row: ``flat [N, D]``, ``codes [K, D]`` -> ``[N]``."""
        scores = flat @ codes.T  # [N, K]
        if self.cosine:
            return scores.argmax(dim=1)
        # ||z - e||^2 = ||z||^2 - 2 <z, e> + ||e||^2; the first term does not change the argmin.
        return (codes.square().sum(dim=1) - 2.0 * scores).argmin(dim=1)

    # ---------------------------------------------------------------------------- forward
    def forward(self, z: torch.Tensor, update: bool | None = None) -> VectorQuantizerOutput:
        """Quantise ``z [B, D, *S]``; see the class docstring.

        Parameters
        ----------
        z : torch.Tensor
            ``[B, D]`` or channel-first ``[B, D, *S]``, floating point.
        update : bool, optional
            Update the EMA codebook, the usage counters and reset dead codes (and run the
            k-means initialisation once). ``None`` (default) means ``self.training``, as
            BatchNorm updates its running statistics. With ``sync_statistics`` under
            ``torch.distributed``, every process must call it with the same ``update`` (the
            update runs collectives).
        """
        self._check_input(z)
        update = self._updates(update)
        flat = self._lookup_space(z)  # [N, D_c]
        if update and self._needs_kmeans:
            self._initialise_by_kmeans(flat.detach())
        if update and self._resets_dead_codes():
            self.reinit_dead_codes(z)
        codes = self.codes()  # [K, D_c]
        with torch.no_grad():
            indices = self._nearest(flat.detach().to(codes.dtype), codes.detach())  # [N]
            counts = torch.zeros(self.num_codes, device=z.device, dtype=codes.dtype)
            counts.index_add_(0, indices, torch.ones_like(indices, dtype=codes.dtype))  # [K]
        chosen = F.embedding(indices, codes).to(z.dtype)  # [N, D_c], grad to a learned codebook
        if update:
            self._update_statistics(flat.detach(), indices, counts)

        z_in = unflatten_codes(flat, z)  # [B, D_c, *S] (normalised when cosine)
        code_values = unflatten_codes(chosen, z)  # [B, D_c, *S]
        codebook_loss = sum_per_example_mean((code_values - z_in.detach()).square())
        commitment_loss = sum_per_example_mean((z_in - code_values.detach()).square())
        loss = self.commitment_weight * commitment_loss
        if not self.ema:
            loss = loss + codebook_loss
        if self.rotation_trick:
            quantized = unflatten_codes(rotate_to_codes(flat, chosen), z)
        else:
            quantized = z_in + (code_values - z_in).detach()  # straight-through
        if self.codebook_dim != self.code_dim:
            quantized = unflatten_codes(self.project_out(flatten_codes(quantized)), z)
        index_shape = (z.shape[0], *z.shape[2:])
        perplexity = code_perplexity(counts).detach()
        codes_used = (counts > 0).to(codes.dtype).mean().detach()
        codebook_loss = codebook_loss if not self.ema else codebook_loss.detach()
        diagnostics = {
            "codebook_loss": codebook_loss.detach(),
            "commitment_loss": commitment_loss.detach(),
            "perplexity": perplexity,
            "codes_used": codes_used,
        }
        if self.orthogonal_weight > 0:
            orthogonal = orthogonal_penalty(self.codebook)
            loss = loss + self.orthogonal_weight * orthogonal
            diagnostics["orthogonal_loss"] = orthogonal.detach()
        return VectorQuantizerOutput(
            z_q=quantized,
            indices=indices.reshape(index_shape),
            loss=loss,
            diagnostics=diagnostics,
            codebook_loss=codebook_loss,
            commitment_loss=commitment_loss,
            perplexity=perplexity,
            codes_used=codes_used,
        )

    # ------------------------------------------------------------------ state updates
    @torch.no_grad()
    def _initialise_by_kmeans(self, flat: torch.Tensor) -> None:
        """Codebook <- Lloyd's k-means on ``flat [N, D_c]`` (rank 0's start under DDP)."""
        flat = flat.to(self.codebook.dtype)
        start = initial_centers(flat, self.num_codes)  # [K, D_c]
        reduce = None
        if self._sync_group_size() > 1:
            start = self._from_rank_zero(start)
            reduce = dist.all_reduce
        centers, sizes = lloyd(flat, start, self.kmeans_iters, reduce)
        if self.cosine:
            centers = F.normalize(centers, dim=1)
        self.codebook.copy_(centers)
        if self.ema:
            sizes = sizes.clamp_min(1.0)
            self.ema_cluster_size.copy_(sizes)
            self.ema_code_sum.copy_(centers * sizes.unsqueeze(1))
        self.initialized.fill_(True)
        self._needs_kmeans = False

    @staticmethod
    def _from_rank_zero(values: torch.Tensor) -> torch.Tensor:
        # rank 0's values on every process; an all_reduce of zeros elsewhere instead of a
        # broadcast, because torch.compile traces all_reduce (not broadcast) into graphs
        keep = 1.0 if dist.get_rank() == 0 else 0.0
        values = values * keep
        dist.all_reduce(values)
        return values

    @torch.no_grad()
    def _update_statistics(
        self, flat: torch.Tensor, indices: torch.Tensor, counts: torch.Tensor
    ) -> None:
        """Usage counters and (with ``ema``) the EMA step of the class docstring.

        ``counts [K]`` and the per-code sums ``[K, D]`` are summed over processes first (see
        ``sync_statistics``), so that every process applies the same update.
        """
        sync = self._sync_group_size() > 1
        if self.ema:
            flat = flat.to(self.codebook.dtype)
            sums = torch.zeros_like(self.ema_code_sum).index_add_(0, indices, flat)  # [K, D]
            if sync:
                both = torch.cat([counts.unsqueeze(1), sums], dim=1)  # [K, D + 1]: one collective
                dist.all_reduce(both)
                counts, sums = both[:, 0], both[:, 1:]
        elif sync:
            counts = counts.clone()
            dist.all_reduce(counts)
        used = counts > 0
        self.steps_since_used.copy_(
            torch.where(used, torch.zeros_like(self.steps_since_used), self.steps_since_used + 1)
        )
        if not self.ema:
            return
        gamma = self.decay
        self.ema_cluster_size.mul_(gamma).add_(counts, alpha=1.0 - gamma)
        self.ema_code_sum.mul_(gamma).add_(sums, alpha=1.0 - gamma)
        total = self.ema_cluster_size.sum()
        smoothed = (self.ema_cluster_size + self.eps) / (total + self.num_codes * self.eps) * total
        self.codebook.copy_(self.ema_code_sum / smoothed.unsqueeze(1))

    def _sync_group_size(self) -> int:
        """Processes whose statistics are summed: the default group's size, or 1."""
        if not self.sync_statistics or not dist.is_available() or not dist.is_initialized():
            return 1
        return dist.get_world_size()

    def _resets_dead_codes(self) -> bool:
        return self.dead_code_steps is not None or self.dead_code_threshold is not None

    def dead_codes(self) -> torch.Tensor:
        """``[K]`` bool: codes unused for ``dead_code_steps`` steps or below the EMA threshold."""
        dead = torch.zeros(self.num_codes, dtype=torch.bool, device=self.codebook.device)
        if self.dead_code_steps is not None:
            dead = dead | (self.steps_since_used >= self.dead_code_steps)
        if self.dead_code_threshold is not None:
            dead = dead | (self.ema_cluster_size < self.dead_code_threshold)
        return dead

    @torch.no_grad()
    def reinit_dead_codes(self, z: torch.Tensor) -> torch.Tensor:
        """Replace every dead code by a random input vector of the batch ``z [B, D, *S]``.

        Draws one candidate position per code with the global RNG (``torch.randint``) and keeps
        it where :meth:`dead_codes` is true (``torch.where``: no host synchronisation, no
        data-dependent shapes; it compiles with ``fullgraph=True``). Under ``torch.distributed``
        with ``sync_statistics``, every process takes rank 0's candidates (one ``all_reduce``;
        every process must call it). With the EMA codebook the cluster size of a new code is set to
        ``max(1, dead_code_threshold)`` and its sum to that times the code, so that it is not
        dead again at once; its usage counter restarts at 0.

        Returns
        -------
        torch.Tensor
            0-dim ``int64``: how many codes were replaced.
        """
        self._check_input(z)
        flat = self._lookup_space(z.detach()).to(self.codebook.dtype)  # [N, D_c]
        dead = self.dead_codes()  # [K]
        picks = torch.randint(flat.shape[0], (self.num_codes,), device=flat.device)
        candidates = flat[picks]  # [K, D]
        if self._sync_group_size() > 1:
            candidates = self._from_rank_zero(candidates)
        column = dead.unsqueeze(1)
        self.codebook.copy_(torch.where(column, candidates, self.codebook))
        if self.ema:
            size = max(1.0, self.dead_code_threshold or 0.0)
            self.ema_cluster_size.copy_(
                torch.where(
                    dead, torch.full_like(self.ema_cluster_size, size), self.ema_cluster_size
                )
            )
            self.ema_code_sum.copy_(torch.where(column, candidates * size, self.ema_code_sum))
        self.steps_since_used.masked_fill_(dead, 0)
        return dead.sum()
