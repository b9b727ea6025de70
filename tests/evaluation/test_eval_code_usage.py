"""evaluation.code_usage: epoch-level counts, entropy, perplexity, dead codes of a VQ model."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from pyautoencoder.evaluation import CodeUsage, code_usage
from pyautoencoder.quantized import VQVAE, GroupedQuantizer, VectorQuantizer


def _model(quantizer: object = None) -> VQVAE:
    torch.manual_seed(0)
    kwargs = {"quantizer": quantizer} if quantizer is not None else {"num_codes": 6, "code_dim": 2}
    return VQVAE(nn.Linear(5, 2), nn.Linear(2, 5), **kwargs)  # type: ignore[arg-type]


def test_counts_and_statistics_equal_a_direct_computation() -> None:
    model = _model()
    x = torch.randn(300, 5, generator=torch.Generator().manual_seed(1))
    usage = code_usage(model, x, batch_size=64)
    indices = model.encode(x).indices  # one pass over everything, independent of batching
    counts = torch.bincount(indices, minlength=6).double()
    assert isinstance(usage, CodeUsage)
    assert torch.equal(usage.counts, counts.unsqueeze(0)) and usage.num_positions == 300
    p = counts[counts > 0] / 300
    entropy = -sum(float(v) * math.log(float(v)) for v in p)
    assert usage.entropy == pytest.approx(entropy, rel=1e-12)
    assert usage.perplexity == pytest.approx(math.exp(entropy), rel=1e-12)
    assert usage.dead_codes == int((counts == 0).sum())
    assert usage.codes_used == pytest.approx(float((counts > 0).double().mean()))
    assert usage.as_dict()["usage_dead_codes"] == float(usage.dead_codes)


def test_batches_iterable_and_grouped_codebooks() -> None:
    quantizer = GroupedQuantizer(VectorQuantizer(4, 1), 2)
    model = _model(quantizer)
    x = torch.randn(50, 5, generator=torch.Generator().manual_seed(2))
    usage = code_usage(model, [(x[:20],), (x[20:],)])
    indices = model.encode(x).indices  # [50, 2]
    for g in range(2):
        assert torch.equal(usage.counts[g], torch.bincount(indices[:, g], minlength=4).double())
    assert usage.counts.shape == (2, 4)


def test_code_usage_leaves_the_model_state_alone() -> None:
    model = _model().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    code_usage(model, torch.randn(40, 5))
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_models_without_a_quantizer_are_rejected() -> None:
    with pytest.raises(TypeError, match="needs a quantized model"):
        code_usage(nn.Linear(2, 2), torch.randn(3, 2))
