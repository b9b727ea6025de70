r"""Squared Frobenius norms of per-example Jacobians, for the contractive and RAE penalties.

For a network ``f`` applied to a batch ``u [B, ...] -> y [B, ...]`` whose examples do not
interact, ``||J_b||_F^2 = sum_{o, i} (d y_bo / d u_bi)^2`` per example ``b``. Two ways to get
it exactly, each costing one product per element of the *smaller* side:

* ``mode="reverse"``: one vector-Jacobian product per output element ``o`` (a cotangent
  ``e_o`` broadcast over the batch gives row ``o`` of every example's Jacobian at once) — for
  encoders, whose output (the code) is small;
* ``mode="forward"``: one Jacobian-vector product per input element ``i`` (column ``i``) —
  for decoders, whose input (the code) is small.

Eager mode uses :func:`torch.autograd.grad` on one ordinary forward pass (``create_graph``
when grad mode is on, so the penalty can be minimised; the forward-mode columns come from the
double-backward identity ``J v = d/dw <J^T w, v>``). This works for any module: lazy layers,
dropout (one mask for all products) and BatchNorm (statistics updated once). Under
``torch.compile`` :func:`torch.autograd.grad` cannot be traced, so the same products are
taken with :func:`torch.func.vjp` / :func:`torch.func.jvp`, which trace with
``fullgraph=True``; they do not allow modules that update buffers in place inside the
transform (BatchNorm in training mode) or lazy layers that are not materialised yet (call
``model.build(x)`` before compiling). The functional path also serves under
:func:`torch.inference_mode`, where :func:`torch.autograd.grad` has no graph to work on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch

Mode = Literal["reverse", "forward"]
Network = Callable[[torch.Tensor], torch.Tensor]


def jacobian_frobenius_sq(
    fn: Network, inputs: torch.Tensor, mode: Mode
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(fn(inputs), ||d fn / d inputs||_F^2 per example [B])``; see the module docstring."""
    if torch.compiler.is_compiling() or torch.is_inference_mode_enabled():
        if mode == "reverse":
            return _reverse_functional(fn, inputs)
        return _forward_functional(fn, inputs)
    grad_enabled = torch.is_grad_enabled()
    with torch.enable_grad():
        leaf = inputs if inputs.requires_grad else inputs.detach().requires_grad_(True)
        outputs = fn(leaf)
        if mode == "reverse":
            norm = _reverse_autograd(outputs, leaf, grad_enabled)
        else:
            norm = _forward_autograd(outputs, leaf, grad_enabled)
    if not grad_enabled:
        return outputs.detach(), norm.detach()
    return outputs, norm


def _unit_cotangents(like: torch.Tensor) -> list[torch.Tensor]:
    """One tensor per element of an example: ``e_k`` broadcast over the batch, shaped ``like``."""
    flat = like.reshape(like.shape[0], -1)
    units = []
    for k in range(flat.shape[1]):
        unit = torch.zeros_like(flat)
        unit[:, k] = 1.0
        units.append(unit.reshape(like.shape))
    return units


def _per_example_sq(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(t.shape[0], -1).square().sum(dim=1)


def _reverse_autograd(
    outputs: torch.Tensor, leaf: torch.Tensor, create_graph: bool
) -> torch.Tensor:
    norm = leaf.new_zeros(leaf.shape[0])
    for cotangent in _unit_cotangents(outputs):
        (row,) = torch.autograd.grad(
            outputs,
            leaf,
            cotangent,
            create_graph=create_graph,
            retain_graph=True,
            allow_unused=True,
            materialize_grads=True,
        )
        norm = norm + _per_example_sq(row)
    return norm


def _forward_autograd(
    outputs: torch.Tensor, leaf: torch.Tensor, create_graph: bool
) -> torch.Tensor:
    # w -> J^T w is linear in w; differentiating <J^T w, e_i> w.r.t. w gives J e_i.
    dummy = torch.zeros_like(outputs, requires_grad=True)
    (transposed,) = torch.autograd.grad(
        outputs, leaf, dummy, create_graph=True, allow_unused=True, materialize_grads=True
    )
    norm = leaf.new_zeros(leaf.shape[0])
    for direction in _unit_cotangents(leaf):
        if not transposed.requires_grad:  # fn does not depend on its input
            break
        (column,) = torch.autograd.grad(
            transposed,
            dummy,
            direction,
            create_graph=create_graph,
            retain_graph=True,
            allow_unused=True,
            materialize_grads=True,
        )
        norm = norm + _per_example_sq(column)
    return norm


def _reverse_functional(fn: Network, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    primal_and_vjp = torch.func.vjp(fn, inputs)
    outputs, vjp_fn = primal_and_vjp[0], primal_and_vjp[1]
    norm = inputs.new_zeros(inputs.shape[0])
    for cotangent in _unit_cotangents(outputs):
        norm = norm + _per_example_sq(vjp_fn(cotangent)[0])
    return outputs, norm


def _forward_functional(fn: Network, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    outputs = None
    norm = inputs.new_zeros(inputs.shape[0])
    for direction in _unit_cotangents(inputs):
        primal_and_tangent = torch.func.jvp(fn, (inputs,), (direction,))
        outputs = primal_and_tangent[0]
        norm = norm + _per_example_sq(primal_and_tangent[1])
    if outputs is None:  # an input with no elements per example
        outputs = fn(inputs)
    return outputs, norm
