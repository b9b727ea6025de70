r"""The rotation trick: gradients through a vector quantizer by a rotation and rescaling.

Fifty, Junkins, Duan, Iyengar, Liu, Amid, Thrun & Ré (2024), *Restructuring vector
quantization with the rotation trick* (eq. 4 and section 4.2): instead of the straight-through
copy ``q = z + sg[e - z]``, write the code as a rotation and rescaling of the input that is
treated as a constant in the backward pass,

.. math::

    \tilde q = \mathrm{sg}\!\Big[\tfrac{\lVert e\rVert}{\lVert z\rVert} R\Big] z, \qquad
    R = I - 2 r r^\top + 2 \hat e\,\hat z^\top, \quad
    \hat z = \tfrac{z}{\lVert z\rVert},\ \hat e = \tfrac{e}{\lVert e\rVert},\
    r = \tfrac{\hat z + \hat e}{\lVert \hat z + \hat e\rVert},

the Householder-style rotation taking ``z_hat`` to ``e_hat`` in the plane they span. The value
is the code (``R z = ||z|| e_hat``), and the gradient reaching ``z`` is
``(||e|| / ||z||) R^T g``: it keeps the angle between the gradient and the code as the angle
between the gradient and the input, and scales with the norm ratio. ``R`` is never formed:
``R v = v - 2 r (r.v) + 2 e_hat (z_hat.v)`` costs ``O(D)`` per vector.
"""

from __future__ import annotations

import torch

_TINY = 1e-12


def rotate_to_codes(z: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """Rotation-trick output for rows ``z [N, D]`` and their chosen ``codes [N, D]``.

    Forward value: exactly ``codes``; backward: ``grad_z = (|e|/|z|) R^T grad``, with
    every factor detached (``sg`` above). No gradient flows to ``codes`` through this path (the
    codebook learns from its own loss or EMA). Zero inputs and antipodal pairs (``z_hat =
    -e_hat``, where ``R`` is undefined) are guarded by a tiny floor on the norms.
    """
    with torch.no_grad():
        z_norm = z.norm(dim=1, keepdim=True).clamp_min(_TINY)  # [N, 1]
        e_norm = codes.norm(dim=1, keepdim=True)  # [N, 1]
        z_hat = z / z_norm
        e_hat = codes / e_norm.clamp_min(_TINY)
        r = z_hat + e_hat
        r = r / r.norm(dim=1, keepdim=True).clamp_min(_TINY)
        scale = e_norm / z_norm  # [N, 1]
    rotated = (
        z
        - 2.0 * r * (r * z).sum(dim=1, keepdim=True)
        + 2.0 * e_hat * (z_hat * z).sum(dim=1, keepdim=True)
    )
    rotated = scale * rotated
    return rotated + (codes.detach() - rotated).detach()  # exact code value, rotated gradient
