"""``merged_sample_dims``: ``[B, S, ...] -> [B * S, ...]`` without a view op for the models' own
splits, a plain reshape for everything else; and the VAE's training step uses it."""

from __future__ import annotations

import torch
from torch import nn

from pyautoencoder.loss._sampled import merged_sample_dims
from pyautoencoder.variational import VAE


def test_a_split_view_gives_back_the_tensor_it_split() -> None:
    flat = torch.randn(6, 4, requires_grad=True) * 1.0  # a non-leaf, as a decoder output
    split = flat.reshape(3, 2, 4)
    assert merged_sample_dims(split) is flat
    assert merged_sample_dims(flat.unsqueeze(1)) is flat  # one sample


def test_other_tensors_are_reshaped_with_the_same_values() -> None:
    base = torch.randn(3, 2, 4)
    sliced = torch.randn(8, 2, 4)[2:5]  # a view of a larger tensor
    strided = torch.randn(2, 3, 4).transpose(0, 1)  # not contiguous
    for values in (base, sliced, strided):
        merged = merged_sample_dims(values)
        assert merged.shape == (6, 4)
        torch.testing.assert_close(merged, values.reshape(6, 4), rtol=0, atol=0)
    assert merged_sample_dims(sliced) is not sliced._base


def test_a_view_of_another_shape_or_dtype_is_not_taken_for_the_split() -> None:
    base = torch.randn(24)
    split = base.view(3, 2, 4)  # the base is [24], not [6, 4]
    assert merged_sample_dims(split).shape == (6, 4)
    ints = torch.zeros(6, 4, dtype=torch.int32)
    as_float = ints.view(torch.float32).reshape(3, 2, 4)
    assert merged_sample_dims(as_float).dtype == torch.float32


def test_gradients_through_the_merge_equal_those_through_a_reshape() -> None:
    leaf = torch.randn(6, 4, requires_grad=True)
    weights = torch.randn(6, 4)
    (merged_sample_dims((leaf * 2).reshape(3, 2, 4)) * weights).sum().backward()
    expected = 2 * weights
    torch.testing.assert_close(leaf.grad, expected)


def _vae(likelihood: str = "bernoulli") -> VAE:
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Linear(12, 16), nn.Tanh())
    decoder = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 12))
    model = VAE(encoder, decoder, 4, likelihood=likelihood)
    model.build(torch.rand(2, 12))
    return model


def test_the_decoder_reads_the_flat_draw_itself() -> None:
    model = _vae()
    seen: list[torch.Tensor] = []
    model.decoder.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    output = model(torch.rand(5, 12))
    assert seen[0]._base is None  # the draw, not a view of it
    assert output.z._base is seen[0] and output.z.shape == (5, 1, 4)


def test_the_mean_reconstruction_term_is_the_mean_of_the_per_sample_terms() -> None:
    x = torch.bernoulli(torch.full((5, 12), 0.5))
    for likelihood in ("bernoulli", "gaussian"):
        model = _vae(likelihood)
        for samples in (1, 3):
            output = model(x, S=samples)
            per_sample = model.reconstruction_log_prob(x, output)  # [B, S]
            mean = model.mean_reconstruction_log_prob(x, output)
            assert mean.shape == ()
            torch.testing.assert_close(mean, per_sample.mean(), rtol=1e-6, atol=1e-5)


def test_the_elbo_gradient_equals_that_of_the_per_sample_formula() -> None:
    x = torch.bernoulli(torch.full((5, 12), 0.5))
    model = _vae()
    torch.manual_seed(1)
    model.compute_loss(x, model(x)).objective.backward()
    fused = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    torch.manual_seed(1)
    output = model(x)
    log_lik = model.reconstruction_log_prob(x, output).mean()
    (model.kl_per_dim(output).sum(-1).mean() - log_lik).backward()
    for got, expected in zip(fused, (p.grad for p in model.parameters()), strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
