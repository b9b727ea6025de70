"""Rotation trick (Fifty et al. 2024): value = the code, gradient = (|e|/|z|) R^T g."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from pyautoencoder.quantized import VectorQuantizer
from pyautoencoder.quantized._rotation import rotate_to_codes


def _rotation_matrix(z: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
    """``R = I - 2 r r^T + 2 e_hat z_hat^T`` formed explicitly (the paper's eq. 4), ``[D, D]``."""
    z_hat, e_hat = z / z.norm(), e / e.norm()
    r = (z_hat + e_hat) / (z_hat + e_hat).norm()
    eye = torch.eye(z.shape[0], dtype=z.dtype)
    return eye - 2 * torch.outer(r, r) + 2 * torch.outer(e_hat, z_hat)


def test_value_is_the_code_and_jacobian_is_the_scaled_rotation() -> None:
    generator = torch.Generator().manual_seed(0)
    z = torch.randn(5, 4, dtype=torch.float64, generator=generator, requires_grad=True)
    e = torch.randn(5, 4, dtype=torch.float64, generator=generator)
    out = rotate_to_codes(z, e)
    torch.testing.assert_close(out, e, rtol=0, atol=0)
    for n in range(5):
        code = e[n : n + 1]
        jac = torch.autograd.functional.jacobian(
            lambda t, code=code: rotate_to_codes(t, code), z[n : n + 1]
        )
        rotation = _rotation_matrix(z[n].detach(), e[n])
        torch.testing.assert_close(
            rotation @ z[n].detach(), z[n].detach().norm() * e[n] / e[n].norm()
        )
        torch.testing.assert_close(rotation.T @ rotation, torch.eye(4, dtype=torch.float64))
        expected = e[n].norm() / z[n].detach().norm() * rotation
        torch.testing.assert_close(jac.reshape(4, 4), expected)


def test_gradient_keeps_the_angle_between_gradient_and_code() -> None:
    generator = torch.Generator().manual_seed(1)
    z = torch.randn(64, 8, dtype=torch.float64, generator=generator, requires_grad=True)
    e = torch.randn(64, 8, dtype=torch.float64, generator=generator)
    g = torch.randn(64, 8, dtype=torch.float64, generator=generator)
    (grad,) = torch.autograd.grad(rotate_to_codes(z, e), z, g)
    # R^T maps e_hat to z_hat, so angle(grad, z) = angle(g, e), and |grad| = |e|/|z| |g|
    torch.testing.assert_close(
        F.cosine_similarity(grad, z.detach(), dim=1), F.cosine_similarity(g, e, dim=1)
    )
    ratio = e.norm(dim=1) / z.detach().norm(dim=1)
    torch.testing.assert_close(grad.norm(dim=1), ratio * g.norm(dim=1))


@pytest.mark.parametrize("rotation_trick", [False, True])
def test_vector_quantizer_gradient_straight_through_or_rotated(rotation_trick: bool) -> None:
    torch.manual_seed(0)
    vq = VectorQuantizer(6, 3, rotation_trick=rotation_trick).double()
    with torch.no_grad():
        vq.codebook.copy_(torch.randn(6, 3, dtype=torch.float64))
    z = torch.randn(10, 3, dtype=torch.float64, requires_grad=True)
    out = vq(z, update=False)
    codes = vq.codebook[out.indices]
    torch.testing.assert_close(out.z_q, codes)
    g = torch.randn(10, 3, dtype=torch.float64)
    (grad,) = torch.autograd.grad(out.z_q, z, g)
    if not rotation_trick:
        assert torch.equal(grad, g)  # straight-through: the identity
    else:
        (expected,) = torch.autograd.grad(rotate_to_codes(z, codes), z, g)
        torch.testing.assert_close(grad, expected)
        assert not torch.allclose(grad, g)


def test_antipodal_and_zero_inputs_stay_finite() -> None:
    z = torch.tensor([[1.0, 0.0], [0.0, 0.0]], dtype=torch.float64, requires_grad=True)
    e = torch.tensor([[-2.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    out = rotate_to_codes(z, e)
    (grad,) = torch.autograd.grad(out.sum(), z)
    assert torch.isfinite(out).all() and torch.isfinite(grad).all()
    torch.testing.assert_close(out, e)
