"""Every quantizer follows the protocol: shapes, loss, diagnostics, inverse lookup, compile.

One matrix over all quantizers (plain and composed) and all input layouts; the formulas of each
quantizer are checked in its own test module.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from contextlib import AbstractContextManager

import pytest
import torch
from torch import nn

import pyautoencoder
from pyautoencoder.quantized import (
    FSQ,
    LFQ,
    VQVAE,
    GroupedQuantizer,
    GumbelQuantizer,
    Quantizer,
    QuantizerOutput,
    ResidualQuantizer,
    VectorQuantizer,
    available_quantizers,
    quantizer_from_spec,
)

DIM = 4

QUANTIZERS: dict[str, Callable[[], Quantizer]] = {
    "vq_ema": lambda: VectorQuantizer(16, DIM, dead_code_steps=2),
    "vq_learned_kmeans_rotation": lambda: VectorQuantizer(
        16, DIM, ema=False, kmeans_init=True, rotation_trick=True, orthogonal_weight=0.1
    ),
    "vq_low_dim_cosine": lambda: VectorQuantizer(16, DIM, codebook_dim=2, cosine=True),
    "fsq": lambda: FSQ([5, 4, 3, 2]),
    "fsq_projected": lambda: FSQ([8, 5, 5], dim=DIM),
    "lfq": lambda: LFQ(DIM),
    "bsq_projected": lambda: LFQ(3, dim=DIM, spherical=True),
    "gumbel": lambda: GumbelQuantizer(16, DIM, anneal_rate=0.1),
    "rvq": lambda: ResidualQuantizer(VectorQuantizer(8, DIM), 3, quantize_dropout=0.5),
    "rfsq": lambda: ResidualQuantizer(FSQ([5, 5, 5, 5]), 2, residual_scale=4.0),
    "gvq": lambda: GroupedQuantizer(VectorQuantizer(8, DIM // 2, kmeans_init=True), 2),
    "glfq": lambda: GroupedQuantizer(LFQ(2), 2),
}
SHAPES = [(6, DIM), (2, DIM, 3), (2, DIM, 2, 3)]


def _make(name: str) -> Quantizer:
    torch.manual_seed(0)
    return QUANTIZERS[name]().double()


def _input(shape: tuple[int, ...]) -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    return torch.randn(shape, generator=generator, dtype=torch.float64, requires_grad=True)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", sorted(QUANTIZERS))
def test_output_shapes_loss_and_diagnostics(name: str, shape: tuple[int, ...]) -> None:
    quantizer = _make(name).train()
    z = _input(shape)
    out = quantizer(z)
    assert isinstance(out, QuantizerOutput)
    assert out.z_q.shape == z.shape and out.z_q.dtype == z.dtype
    index_shape = (shape[0], *shape[2:])
    if quantizer.num_codebooks > 1:
        index_shape = (*index_shape, quantizer.num_codebooks)
    assert out.indices.shape == index_shape and out.indices.dtype == torch.int64
    assert int(out.indices.max()) < quantizer.num_codes and int(out.indices.min()) >= -1
    assert out.loss.dim() == 0 and torch.isfinite(out.loss)
    assert {"perplexity", "codes_used"} <= set(out.diagnostics)
    for key, value in out.diagnostics.items():
        assert value.dim() == 0 and not value.requires_grad, key
    (grad,) = torch.autograd.grad((out.z_q.square().sum() + out.loss), z)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", sorted(QUANTIZERS))
def test_codes_from_indices_inverts_the_lookup(name: str, shape: tuple[int, ...]) -> None:
    quantizer = _make(name).eval()
    out = quantizer(_input(shape))
    torch.testing.assert_close(quantizer.codes_from_indices(out.indices), out.z_q.detach())


@pytest.mark.parametrize("name", sorted(QUANTIZERS))
def test_forward_compiles_with_fullgraph(name: str) -> None:
    eager = _make(name).train()
    compiled_copy = copy.deepcopy(eager)
    compiled = torch.compile(compiled_copy, fullgraph=True, backend="eager")
    z = _input((2, DIM, 3)).detach()
    for _ in range(2):
        torch.manual_seed(3)
        expected = eager(z)
        torch.manual_seed(3)
        got = compiled(z)
        torch.testing.assert_close(got.z_q, expected.z_q)
        assert torch.equal(got.indices, expected.indices)
        torch.testing.assert_close(got.loss, expected.loss)
    for key, value in eager.state_dict().items():
        torch.testing.assert_close(compiled_copy.state_dict()[key], value, msg=key)


@pytest.mark.parametrize("name", sorted(QUANTIZERS))
def test_vqvae_trains_with_every_quantizer(name: str) -> None:
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, DIM))
    decoder = nn.Sequential(nn.Linear(DIM, 16), nn.Tanh(), nn.Linear(16, 6))
    model = VQVAE(encoder, decoder, quantizer=QUANTIZERS[name]())
    x = torch.randn(32, 6, generator=torch.Generator().manual_seed(1))
    result = model.compute_loss(x, model(x))
    result.objective.backward()
    assert model.code_dim == DIM and model.num_codes == model.quantizer.num_codes
    assert all(p.grad is not None for p in model.encoder.parameters())
    assert {"log_likelihood", "vq_loss", "perplexity", "codes_used"} <= set(result.diagnostics)
    indices = model.encode(x).indices
    torch.testing.assert_close(model.decode(indices).x_hat, model.reconstruct(x))


@pytest.mark.parametrize(
    ("spec", "kind", "codes"),
    [
        ("vq", VectorQuantizer, 512),
        ("vq:64", VectorQuantizer, 64),
        ("fsq:8,5,5,5", FSQ, 1000),
        ("lfq:10", LFQ, 1024),
        ("bsq:6", LFQ, 64),
        ("rvq:3", ResidualQuantizer, 512),
        ("gvq:4", GroupedQuantizer, 512),
        ("gumbel:32", GumbelQuantizer, 32),
    ],
)
def test_spec_strings_build_quantizers(spec: str, kind: type, codes: int) -> None:
    quantizer = quantizer_from_spec(spec, 8)
    assert isinstance(quantizer, kind) and quantizer.dim == 8 and quantizer.num_codes == codes
    assert spec.partition(":")[0] in available_quantizers()
    out = quantizer(torch.randn(5, 8))
    assert out.z_q.shape == (5, 8)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("fsqq:8,5", r"unknown quantizer 'fsqq'.*Did you mean 'fsq'"),
        ("fsq", r"needs levels"),
        ("fsq:8,x", r"levels must be comma-separated integers"),
        ("fsq:8,1", r"levels must be .* ints >= 2.*entry 1"),
        ("lfq", r"needs the number of bits"),
        ("gvq:3", r"groups must be >= 1 and divide the code size 8, got 3"),
        ("rvq:0", r"num_quantizers must be a positive int"),
        ("vq:1,2", r"the number of codes is one integer"),
    ],
)
def test_bad_specs_raise_clear_errors(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        quantizer_from_spec(spec, 8)


def test_bad_arguments_raise_clear_errors() -> None:
    with pytest.raises(ValueError, match=r"levels must be a non-empty sequence"):
        FSQ([])
    with pytest.raises(ValueError, match="dim must be a positive int"):
        LFQ(4, dim=0)
    with pytest.raises(ValueError, match="groups must be a positive int"):
        GroupedQuantizer(LFQ(2), 0)
    with pytest.raises(TypeError, match=r"base must be a pyautoencoder\.quantized\.Quantizer"):
        ResidualQuantizer(nn.Linear(2, 2), 2)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="quantize_dropout must lie in"):
        ResidualQuantizer(LFQ(2), 2, quantize_dropout=1.5)
    with pytest.raises(ValueError, match=r"dim = 4.*dim 1 of size 3"):
        GroupedQuantizer(LFQ(2), 2)(torch.randn(2, 3))
    with pytest.raises(ValueError, match=r"orthogonal_weight > 0 .* needs ema=False"):
        VectorQuantizer(4, 2, orthogonal_weight=1.0)
    with pytest.raises(ValueError, match=r"Q = num_codebooks = 2"):
        GroupedQuantizer(LFQ(2), 2).codes_from_indices(torch.zeros(3, 3, dtype=torch.long))
    encoder, decoder = nn.Linear(6, 4), nn.Linear(4, 6)
    with pytest.raises(ValueError, match=r"ema configure the default VectorQuantizer"):
        VQVAE(encoder, decoder, quantizer="fsq:8,5,5,5", ema=False)
    with pytest.raises(ValueError, match=r"code_dim=5 disagrees with the quantizer's dim = 4"):
        VQVAE(encoder, decoder, code_dim=5, quantizer=LFQ(4))
    with pytest.raises(TypeError, match=r"quantizer must be a pyautoencoder\."):
        VQVAE(encoder, decoder, quantizer=nn.Linear(4, 4))  # type: ignore[arg-type]


HostReads = Callable[[], AbstractContextManager[dict[str, int]]]  # the conftest fixture


@pytest.mark.parametrize("name", sorted(QUANTIZERS))
def test_vqvae_training_steps_read_nothing_on_the_host(name: str, host_reads: HostReads) -> None:
    """Three training steps (k-means start, EMA, resets, dropout, schedule) with value checks
    off: no tensor value is read on the host (each read would wait for a GPU)."""
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, DIM))
    decoder = nn.Sequential(nn.Linear(DIM, 16), nn.Tanh(), nn.Linear(16, 6))
    model = VQVAE(encoder, decoder, quantizer=QUANTIZERS[name]()).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)  # no step counter read
    x = torch.randn(32, 6)
    with pyautoencoder.value_checks(False), host_reads() as counts:
        for _ in range(3):
            loss = model.compute_loss(x, model(x)).objective
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    assert sum(counts.values()) == 0
