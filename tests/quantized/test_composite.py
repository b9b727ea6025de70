"""ResidualQuantizer and GroupedQuantizer: stage-wise error, dropout, groups, composition."""

from __future__ import annotations

import itertools

import torch

from pyautoencoder.quantized import (
    FSQ,
    LFQ,
    GroupedQuantizer,
    ResidualQuantizer,
    VectorQuantizer,
)


def _error_after(rvq: ResidualQuantizer, z: torch.Tensor, indices: torch.Tensor, n: int) -> float:
    """``||z - hat z_n||^2`` (mean per row) decoding only the first ``n`` stages."""
    truncated = indices.clone()
    truncated[..., n:] = -1
    return float((z - rvq.codes_from_indices(truncated)).square().sum(dim=1).mean())


def test_residual_error_decreases_with_every_stage() -> None:
    torch.manual_seed(0)
    z = torch.randn(400, 3, dtype=torch.float64)
    rvq = ResidualQuantizer(VectorQuantizer(16, 3, kmeans_init=True), 6).double()
    rvq.train()
    rvq(z)  # each stage fits its codes (k-means) to the residuals it sees
    out = rvq.eval()(z)
    errors = [float(z.square().sum(dim=1).mean())]
    errors += [_error_after(rvq, z, out.indices, n) for n in range(1, 7)]
    assert all(later < earlier for earlier, later in itertools.pairwise(errors)), errors
    torch.testing.assert_close(rvq.codes_from_indices(out.indices), out.z_q)
    assert errors[-1] < 0.05 * errors[0]


def test_residual_fsq_with_scaling_refines_the_first_stage() -> None:
    z = torch.rand(200, 3, dtype=torch.float64) * 1.6 - 0.8
    rfsq = ResidualQuantizer(FSQ([9, 9, 9]), 3, residual_scale=8.0).double()
    out = rfsq(z)
    errors = [_error_after(rfsq, z, out.indices, n) for n in range(1, 4)]
    assert errors[1] < 0.1 * errors[0] and errors[2] < errors[1]


def test_quantize_dropout_truncates_whole_batches() -> None:
    torch.manual_seed(0)
    rvq = ResidualQuantizer(LFQ(2), 4, quantize_dropout=1.0).train()
    seen = set()
    for _ in range(20):
        out = rvq(torch.randn(8, 2))
        used = (out.indices >= 0).all(dim=0)  # [4]: a stage is used by the whole batch or not
        n = int(used.sum())
        assert used.tolist() == [True] * n + [False] * (4 - n)
        assert bool(((out.indices >= 0) == used).all())
        torch.testing.assert_close(rvq.codes_from_indices(out.indices), out.z_q.detach())
        seen.add(n)
    assert seen == {1, 2, 3, 4}
    assert bool((rvq.eval()(torch.randn(8, 2)).indices >= 0).all())  # no dropout in eval


def test_grouped_quantizer_quantises_each_group_alone() -> None:
    torch.manual_seed(0)
    gvq = GroupedQuantizer(VectorQuantizer(5, 2), 3).double()
    z = torch.randn(7, 6, 4, dtype=torch.float64)
    out = gvq(z, update=False)
    for g, part in enumerate(gvq.parts):
        alone = part(z[:, 2 * g : 2 * g + 2], update=False)
        assert torch.equal(out.indices[..., g], alone.indices)
        torch.testing.assert_close(out.z_q[:, 2 * g : 2 * g + 2], alone.z_q)
    codebooks = [part.codebook for part in gvq.parts]
    assert not torch.equal(codebooks[0], codebooks[1])  # copies re-draw their codes
    assert gvq.dim == 6 and gvq.num_codebooks == 3
