"""Quantizers by spec string (``"fsq:8,5,5,5"``, ``"rvq:8"``): the CLI's and configs' names."""

from __future__ import annotations

from collections.abc import Callable

from .._registry import Registry
from ._composite import GroupedQuantizer, ResidualQuantizer
from ._fsq import FSQ
from ._gumbel import GumbelQuantizer
from ._lfq import LFQ
from ._protocol import Quantizer
from ._vector_quantizer import VectorQuantizer

_DEFAULT_CODES = 512
_RESET_STEPS = 100  # VQVAE's default dead-code reset


def _ints(text: str, what: str, spec: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",")]
    except ValueError:
        raise ValueError(
            f"quantizer spec {spec!r}: {what} must be comma-separated integers, got {text!r}"
        ) from None
    return values


def _one_int(text: str | None, what: str, spec: str, default: int | None) -> int:
    if text is None or text == "":
        if default is None:
            raise ValueError(f"quantizer spec {spec!r} needs {what} after ':'")
        return default
    values = _ints(text, what, spec)
    if len(values) != 1:
        raise ValueError(f"quantizer spec {spec!r}: {what} is one integer, got {text!r}")
    return values[0]


def _vq(dim: int, codes: int) -> VectorQuantizer:
    return VectorQuantizer(codes, dim, dead_code_steps=_RESET_STEPS)


def _build_vq(arg: str | None, dim: int, codes: int | None, spec: str) -> Quantizer:
    return _vq(dim, _one_int(arg, "the number of codes", spec, codes or _DEFAULT_CODES))


def _build_fsq(arg: str | None, dim: int, codes: int | None, spec: str) -> Quantizer:
    if not arg:
        raise ValueError(f"quantizer spec {spec!r} needs levels, e.g. 'fsq:8,5,5,5'")
    return FSQ(_ints(arg, "levels", spec), dim=dim)


def _build_lfq(arg: str | None, dim: int, codes: int | None, spec: str) -> Quantizer:
    return LFQ(_one_int(arg, "the number of bits", spec, None), dim=dim)


def _build_bsq(arg: str | None, dim: int, codes: int | None, spec: str) -> Quantizer:
    return LFQ(_one_int(arg, "the number of bits", spec, None), dim=dim, spherical=True)


def _build_rvq(arg: str | None, dim: int, codes: int | None, spec: str) -> Quantizer:
    stages = _one_int(arg, "the number of stages", spec, None)
    return ResidualQuantizer(_vq(dim, codes or _DEFAULT_CODES), stages)


def _build_gvq(arg: str | None, dim: int, codes: int | None, spec: str) -> Quantizer:
    groups = _one_int(arg, "the number of groups", spec, None)
    if groups < 1 or dim % groups:
        raise ValueError(
            f"quantizer spec {spec!r}: groups must be >= 1 and divide the code size "
            f"{dim}, got {groups}"
        )
    return GroupedQuantizer(_vq(dim // groups, codes or _DEFAULT_CODES), groups)


def _build_gumbel(arg: str | None, dim: int, codes: int | None, spec: str) -> Quantizer:
    count = _one_int(arg, "the number of codes", spec, codes or _DEFAULT_CODES)
    return GumbelQuantizer(count, dim)


_Builder = Callable[[str | None, int, int | None, str], Quantizer]
_SPECS: Registry[_Builder] = Registry("quantizer")
for _name, _builder in (
    ("vq", _build_vq),
    ("fsq", _build_fsq),
    ("lfq", _build_lfq),
    ("bsq", _build_bsq),
    ("rvq", _build_rvq),
    ("gvq", _build_gvq),
    ("gumbel", _build_gumbel),
):
    _SPECS.register(_name, _builder)
del _name, _builder
_BUILDERS: dict[str, _Builder] = _SPECS.entries

SPEC_HELP = "vq[:K] | fsq:L1,L2,... | lfq:BITS | bsq:BITS | rvq:STAGES | gvq:GROUPS | gumbel[:K]"
"""The spec grammar in one line (for ``--help`` texts)."""


def available_quantizers() -> list[str]:
    """The spec names, sorted."""
    return sorted(_BUILDERS)


def quantizer_from_spec(spec: str, dim: int, num_codes: int | None = None) -> Quantizer:
    """Build a quantizer for inputs of ``dim`` channels from a spec string.

    ``vq[:K]`` (:class:`VectorQuantizer`, EMA codebook, dead codes reset after 100 steps),
    ``fsq:L1,L2,...`` (:class:`FSQ` with those levels), ``lfq:BITS`` / ``bsq:BITS``
    (:class:`LFQ`, spherical for BSQ), ``rvq:STAGES`` (:class:`ResidualQuantizer` of VQs),
    ``gvq:GROUPS`` (:class:`GroupedQuantizer` of VQs on ``dim / GROUPS`` channels each),
    ``gumbel[:K]`` (:class:`GumbelQuantizer`). ``num_codes`` is the ``K`` of the VQ-based and
    Gumbel specs that name none (default 512). Quantizers whose own size differs from ``dim``
    (FSQ, LFQ) get learned projections.

    Raises
    ------
    ValueError
        An unknown name (with the close matches) or malformed arguments, naming the spec.
    """
    if not isinstance(spec, str):
        raise TypeError(f"quantizer spec must be a string such as 'fsq:8,5,5,5', got {spec!r}")
    name, _, arg = spec.strip().partition(":")
    key = name.lower()
    if key not in _BUILDERS:
        hint = _SPECS.did_you_mean(key)
        raise ValueError(f"unknown quantizer {name!r} in spec {spec!r}.{hint} Valid: {SPEC_HELP}")
    return _BUILDERS[key](arg if arg else None, dim, num_codes, spec)
