"""VectorQuantizer: lookup, straight-through gradients, eq. 3 losses, EMA, dead codes, cosine."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from pyautoencoder.quantized import VectorQuantizer


def _quantizer(**kwargs: object) -> VectorQuantizer:
    torch.manual_seed(0)
    vq = VectorQuantizer(kwargs.pop("num_codes", 6), kwargs.pop("code_dim", 3), **kwargs)  # type: ignore[arg-type]
    with torch.no_grad():  # codes spread like the inputs, so that many are chosen
        vq.codebook.copy_(torch.randn(vq.num_codes, vq.code_dim))
        if vq.ema:
            vq.ema_code_sum.copy_(vq.codebook)
    return vq.double()


def test_lookup_picks_the_nearest_code() -> None:
    vq = _quantizer(num_codes=7, code_dim=4)
    z = torch.randn(50, 4, dtype=torch.float64)
    out = vq(z, update=False)
    expected = torch.cdist(z, vq.codebook).argmin(dim=1)  # brute force, independent
    torch.testing.assert_close(out.indices, expected)
    torch.testing.assert_close(out.quantized, vq.codebook[expected])
    assert out.indices.dtype == torch.int64


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (3, 3, 7)])
def test_channel_first_inputs_quantise_each_position(shape: tuple[int, ...]) -> None:
    vq = _quantizer()
    z = torch.randn(shape, dtype=torch.float64)
    out = vq(z, update=False)
    assert out.quantized.shape == shape
    assert out.indices.shape == (shape[0], *shape[2:])
    rows = z.movedim(1, -1).reshape(-1, 3)
    expected = torch.cdist(rows, vq.codebook).argmin(dim=1).reshape(out.indices.shape)
    torch.testing.assert_close(out.indices, expected)
    torch.testing.assert_close(out.quantized.movedim(1, -1), vq.codebook[expected])


@pytest.mark.parametrize("ema", [True, False])
def test_straight_through_gradient_is_the_identity(ema: bool) -> None:
    vq = _quantizer(ema=ema)
    z = torch.randn(5, 3, 2, dtype=torch.float64, requires_grad=True)
    out = vq(z)
    cotangent = torch.randn_like(z)
    (grad,) = torch.autograd.grad(out.quantized, z, cotangent)
    assert torch.equal(grad, cotangent)
    jac = torch.autograd.functional.jacobian(lambda t: vq(t, update=False).quantized, z[:1, :, 0])
    torch.testing.assert_close(jac.reshape(3, 3), torch.eye(3, dtype=torch.float64))


def test_losses_and_their_gradients_follow_eq3() -> None:
    vq = _quantizer(ema=False, beta=0.4)
    z = torch.randn(8, 3, 2, dtype=torch.float64, requires_grad=True)
    out = vq(z)
    e = vq.codebook[out.indices].movedim(-1, 1).detach()  # [B, D, T]
    squared = (z.detach() - e).square().sum(dim=(1, 2)).mean()
    torch.testing.assert_close(out.codebook_loss, squared)
    torch.testing.assert_close(out.commitment_loss, squared)
    torch.testing.assert_close(out.loss, squared + 0.4 * squared)
    grad_z, grad_codebook = torch.autograd.grad(out.loss, (z, vq.codebook))
    # d/dz of beta ||z - sg e||^2 / B and d/de_k of sum_{i: k_i = k} ||sg z_i - e_k||^2 / B
    torch.testing.assert_close(grad_z, 2 * 0.4 * (z.detach() - e) / 8)
    expected = torch.zeros_like(vq.codebook)
    rows_z = z.detach().movedim(1, -1).reshape(-1, 3)
    for row, k in zip(rows_z, out.indices.reshape(-1).tolist()):
        expected[k] += 2 * (vq.codebook[k].detach() - row) / 8
    torch.testing.assert_close(grad_codebook, expected)


def test_ema_codebook_gets_no_gradient_and_loss_is_commitment_only() -> None:
    vq = _quantizer(ema=True, beta=0.25)
    assert list(vq.parameters()) == []
    z = torch.randn(6, 3, dtype=torch.float64, requires_grad=True)
    out = vq(z, update=False)
    torch.testing.assert_close(out.loss, 0.25 * out.commitment_loss)
    assert not out.codebook_loss.requires_grad


def test_ema_update_equals_the_formula_step_by_step() -> None:
    decay, eps = 0.9, 1e-3
    vq = _quantizer(num_codes=4, code_dim=2, decay=decay, eps=eps)
    cluster = torch.ones(4, dtype=torch.float64)  # N_k starts at 1
    sums = vq.codebook.clone()  # m_k starts at the initial codes
    codebook = vq.codebook.clone()
    generator = torch.Generator().manual_seed(1)
    for _ in range(4):
        z = torch.randn(9, 2, dtype=torch.float64, generator=generator)
        vq.train()
        out = vq(z)
        nearest = torch.cdist(z, codebook).argmin(dim=1)  # with the codes before the step
        assert torch.equal(out.indices, nearest)
        for k in range(4):
            members = z[nearest == k]
            cluster[k] = decay * cluster[k] + (1 - decay) * members.shape[0]
            sums[k] = decay * sums[k] + (1 - decay) * members.sum(dim=0)
        total = cluster.sum()
        smoothed = (cluster + eps) / (total + 4 * eps) * total
        codebook = sums / smoothed.unsqueeze(1)
        torch.testing.assert_close(vq.ema_cluster_size, cluster)
        torch.testing.assert_close(vq.ema_code_sum, sums)
        torch.testing.assert_close(vq.codebook, codebook)


def test_eval_mode_and_update_false_leave_the_state_alone() -> None:
    vq = _quantizer()
    before = {k: v.clone() for k, v in vq.state_dict().items()}
    z = torch.randn(10, 3, dtype=torch.float64)
    vq.eval()
    vq(z)
    vq.train()
    vq(z, update=False)
    for key, value in vq.state_dict().items():
        assert torch.equal(value, before[key]), key
    vq.eval()
    vq(z, update=True)
    assert not torch.equal(vq.codebook, before["codebook"])


def test_state_dict_is_the_whole_learned_state() -> None:
    source = _quantizer(dead_code_steps=3)
    source.train()
    for _ in range(3):
        source(torch.randn(12, 3, dtype=torch.float64))
    assert set(source.state_dict()) == {
        "codebook",
        "ema_cluster_size",
        "ema_code_sum",
        "steps_since_used",
    }
    target = VectorQuantizer(6, 3, dead_code_steps=3).double()
    target.load_state_dict(source.state_dict())
    z = torch.randn(12, 3, dtype=torch.float64)
    torch.manual_seed(5)
    a = source(z)
    torch.manual_seed(5)
    b = target(z)
    assert torch.equal(a.indices, b.indices)
    torch.testing.assert_close(source.codebook, target.codebook)


def _collapsed_codebook(**kwargs: object) -> VectorQuantizer:
    """Code 0 near the data, every other code far away: only code 0 is ever chosen."""
    vq = VectorQuantizer(8, 2, **kwargs).double()  # type: ignore[arg-type]
    with torch.no_grad():
        vq.codebook.copy_(torch.full((8, 2), 100.0, dtype=torch.float64))
        vq.codebook[0] = 0.0
        if vq.ema:
            vq.ema_code_sum.copy_(vq.codebook)
    return vq


@pytest.mark.parametrize(
    "kwargs",
    [
        {"dead_code_steps": 2},
        {"dead_code_steps": 2, "ema": False},
        {"dead_code_threshold": 0.5, "decay": 0.5},
    ],
)
def test_dead_codes_are_reinitialised_from_the_batch_and_then_used(kwargs: dict) -> None:
    torch.manual_seed(0)
    vq = _collapsed_codebook(**kwargs)
    vq.train()
    data = torch.randn(64, 2, dtype=torch.float64)
    first = vq(data)
    assert float(first.codes_used) == pytest.approx(1 / 8) and float(first.perplexity) == 1.0
    for _ in range(3):
        vq(data)
    # every far code was replaced by a data vector (up to the EMA averaging of later steps)
    assert bool((vq.codebook.abs() < 10).all())
    later = vq(data)
    assert float(later.codes_used) > 0.5
    assert float(later.perplexity) > 3.0


def test_reinit_dead_codes_returns_the_count_and_copies_batch_vectors() -> None:
    vq = _collapsed_codebook(dead_code_steps=1, ema=False)
    data = torch.randn(20, 2, dtype=torch.float64)
    vq(data, update=True)
    assert vq.dead_codes().tolist() == [False] + [True] * 7
    count = vq.reinit_dead_codes(data)
    assert count.dim() == 0 and int(count) == 7
    for code in vq.codebook[1:]:
        assert bool(((data - code).abs().sum(dim=1) == 0).any())  # an actual batch vector
    assert int(vq.steps_since_used.sum()) == 0


@pytest.mark.parametrize("kwargs", [{"dead_code_steps": 1}, {"dead_code_threshold": 0.5}])
def test_compiled_forward_resets_dead_codes_inside_the_graph(kwargs: dict) -> None:
    torch.manual_seed(0)
    vq = _collapsed_codebook(**kwargs, decay=0.5)
    vq.train()
    data = torch.randn(32, 2, dtype=torch.float64)
    step = torch.compile(lambda z: vq(z).codes_used, fullgraph=True, backend="aot_eager")
    used = [float(step(data)) for _ in range(4)]
    assert used[0] == pytest.approx(1 / 8)  # collapsed: only code 0
    assert bool((vq.codebook.abs() < 10).all())  # the far codes were replaced in the graph
    assert used[-1] > 0.5 and int(vq.dead_codes().sum()) < 7


def test_cosine_lookup_uses_normalised_vectors() -> None:
    vq = _quantizer(cosine=True, num_codes=5)
    z = torch.randn(30, 3, dtype=torch.float64) * 7.0
    out = vq(z, update=False)
    unit_codes = vq.codebook / vq.codebook.norm(dim=1, keepdim=True)
    unit_z = z / z.norm(dim=1, keepdim=True)
    expected = (unit_z @ unit_codes.T).argmax(dim=1)
    assert torch.equal(out.indices, expected)
    torch.testing.assert_close(out.quantized, unit_codes[expected])
    torch.testing.assert_close(
        out.commitment_loss, (unit_z - unit_codes[expected]).square().sum(dim=1).mean()
    )
    torch.testing.assert_close(vq.get_codes(out.indices), unit_codes[expected])


def test_perplexity_and_codes_used_from_the_batch_frequencies() -> None:
    vq = VectorQuantizer(4, 1, ema=False).double()
    with torch.no_grad():
        vq.codebook.copy_(torch.tensor([[0.0], [10.0], [20.0], [30.0]], dtype=torch.float64))
    z = torch.tensor([[0.1], [0.2], [9.9], [10.1], [10.2], [10.3]], dtype=torch.float64)
    out = vq(z, update=False)  # frequencies 2/6, 4/6, 0, 0
    p = torch.tensor([2 / 6, 4 / 6], dtype=torch.float64)
    assert float(out.perplexity) == pytest.approx(math.exp(float(-(p * p.log()).sum())))
    assert float(out.codes_used) == 0.5
    assert not out.perplexity.requires_grad and out.perplexity.dim() == 0


def test_get_codes_inverts_the_lookup_and_checks_indices() -> None:
    vq = _quantizer()
    z = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    out = vq(z, update=False)
    torch.testing.assert_close(vq.get_codes(out.indices), out.quantized)
    flat = vq(z[:, :, 0, 0], update=False)
    torch.testing.assert_close(vq.get_codes(flat.indices), flat.quantized)
    with pytest.raises(TypeError, match="integer"):
        vq.get_codes(out.indices.double())
    with pytest.raises(ValueError, match=r"\[0, 5\]"):
        vq.get_codes(torch.tensor([0, 6]))


def test_bad_arguments_raise_clear_errors() -> None:
    with pytest.raises(ValueError, match="num_codes"):
        VectorQuantizer(0, 4)
    with pytest.raises(ValueError, match="decay"):
        VectorQuantizer(4, 4, decay=1.0)
    with pytest.raises(ValueError, match="eps"):
        VectorQuantizer(4, 4, eps=0.0)
    with pytest.raises(ValueError, match="ema=True"):
        VectorQuantizer(4, 4, ema=False, dead_code_threshold=1.0)
    with pytest.raises(ValueError, match="beta"):
        VectorQuantizer(4, 4, beta=-1.0)
    vq = VectorQuantizer(4, 8)
    with pytest.raises(ValueError, match=r"code_dim = 8.*dim 1 of size 5"):
        vq(torch.randn(2, 5))
    with pytest.raises(TypeError, match="floating-point"):
        vq(torch.ones(2, 8, dtype=torch.long))


@pytest.mark.parametrize("kwargs", [{}, {"ema": False}, {"cosine": True}])
def test_training_step_compiles_with_fullgraph(kwargs: dict) -> None:
    eager = _quantizer(**kwargs)
    compiled_copy = _quantizer(**kwargs)
    z = torch.randn(16, 3, 2, dtype=torch.float64)

    def step(module: VectorQuantizer, z: torch.Tensor) -> torch.Tensor:
        out = module(z)
        return out.loss + 0 * out.perplexity

    compiled = torch.compile(step, fullgraph=True, backend="eager")
    for _ in range(2):
        torch.testing.assert_close(compiled(compiled_copy, z), step(eager, z))
    torch.testing.assert_close(compiled_copy.codebook, eager.codebook)


def test_low_precision_inputs_keep_their_dtype() -> None:
    vq = VectorQuantizer(4, 3)
    z = torch.randn(5, 3).to(torch.bfloat16)
    out = vq(z)
    assert out.quantized.dtype == torch.bfloat16
    assert torch.isfinite(F.mse_loss(out.quantized.float(), z.float()))
