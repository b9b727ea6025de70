"""One generic name registry (``Registry[T]``, did-you-mean) behind every kind of named thing.

Issue 12: likelihoods, priors, models, MMD kernels, noise types, optimizers (and objectives,
posteriors, samplers, activations, quantizer specs) are each a ``Registry`` instance, an
unknown name gets the same "did you mean" help everywhere, and no module of ``src`` keeps
its own copy of the suggestion code (the command line's argparse choices aside).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from pyautoencoder._registry import Registry

SRC = Path(__file__).resolve().parents[1] / "src" / "pyautoencoder"


def test_registry_is_case_insensitive_and_refuses_a_second_object() -> None:
    things: Registry[type] = Registry("thing")

    @things.register("Alpha")
    class Alpha: ...

    assert things.get("ALPHA") is Alpha and "alpha" in things and things.names() == ["alpha"]
    things.register("alpha", Alpha)  # the same object again (a module reload): no-op
    with pytest.raises(ValueError, match="a thing named 'alpha' is already registered"):
        things.register("alpha", type("Other", (), {}))
    with pytest.raises(TypeError, match="a thing name must be a non-empty str"):
        things.get("")
    things.unregister("alpha")
    assert len(things) == 0


def test_unknown_name_suggests_close_ones_and_lists_all() -> None:
    things: Registry[int] = Registry("thing")
    things.register("gaussian", 1)
    things.register("bernoulli", 2)
    with pytest.raises(ValueError) as info:
        things.get("bernouli")
    assert str(info.value) == (
        "Unknown thing 'bernouli'. Did you mean 'bernoulli'? Available things: bernoulli, gaussian"
    )
    assert things.did_you_mean("zzz") == ""
    assert things.did_you_mean("gausian", inline=True) == "; did you mean 'gaussian'?"


def _registries() -> dict[str, object]:
    from pyautoencoder.distributions._likelihood import LIKELIHOODS
    from pyautoencoder.distributions._posteriors import POSTERIORS
    from pyautoencoder.distributions._priors import PRIORS
    from pyautoencoder.loss._mmd import KERNELS
    from pyautoencoder.nets._common import ACTIVATION_REGISTRY
    from pyautoencoder.objectives import OBJECTIVES
    from pyautoencoder.quantized._specs import _SPECS
    from pyautoencoder.registry import MODELS
    from pyautoencoder.samplers._base import SAMPLERS
    from pyautoencoder.training._optim import OPTIMIZERS
    from pyautoencoder.vanilla._denoising import CORRUPTIONS

    return {
        "likelihood": LIKELIHOODS,
        "prior": PRIORS,
        "model": MODELS,
        "kernel": KERNELS,
        "corruption": CORRUPTIONS,
        "optimizer": OPTIMIZERS,
        "objective": OBJECTIVES,
        "posterior": POSTERIORS,
        "sampler": SAMPLERS,
        "activation": ACTIVATION_REGISTRY,
        "quantizer": _SPECS,
    }


@pytest.mark.parametrize("kind", sorted(_registries()))
def test_each_kind_of_named_thing_is_a_registry(kind: str) -> None:
    registry = _registries()[kind]
    assert isinstance(registry, Registry) and registry.kind == kind and len(registry) > 0


def _lookups() -> dict[str, tuple[Callable[[], object], str]]:
    """kind -> (a lookup of a misspelt name through the public entry point, expected hint)."""
    from pyautoencoder.distributions import get_likelihood, get_posterior, get_prior
    from pyautoencoder.loss import get_kernel
    from pyautoencoder.nets import create_model
    from pyautoencoder.nets._common import make_activation
    from pyautoencoder.quantized import quantizer_from_spec
    from pyautoencoder.samplers import get_sampler
    from pyautoencoder.vanilla._denoising import get_corruption

    return {
        "likelihood": (lambda: get_likelihood("bernouli"), "'bernoulli'"),
        "prior": (lambda: get_prior("standard_normall", 2), "'standard_normal'"),
        "model": (lambda: create_model("vea", (4,), 2), "'vae'"),
        "kernel": (lambda: get_kernel("rbff"), "'rbf'"),
        "corruption": (lambda: get_corruption("gausian", 0.1), "'gaussian'"),
        "posterior": (lambda: get_posterior("plnar:2", 2), "'planar'"),
        "activation": (lambda: make_activation("rellu"), "'relu'"),
        "quantizer": (lambda: quantizer_from_spec("fsqq:8,5", 4), "'fsq'"),
        "sampler": (lambda: get_sampler("gmmm"), "'gmm'"),
        "optimizer": (_misspelt_optimizer, "'adam'"),
    }


def _misspelt_optimizer() -> object:
    import torch
    from torch import nn

    from pyautoencoder.training._optim import make_optimizer

    weights = [nn.Parameter(torch.zeros(1))]
    return make_optimizer("adamm", weights, lr=1e-3, weight_decay=0.0, extra={})


@pytest.mark.parametrize("kind", sorted(_lookups()))
def test_a_misspelt_name_gets_the_registry_suggestion(kind: str) -> None:
    lookup, close = _lookups()[kind]
    with pytest.raises(ValueError, match=re.compile(r"[Dd]id you mean " + re.escape(close))):
        lookup()


def test_no_module_keeps_its_own_copy_of_the_suggestion_code() -> None:
    allowed = {"_registry.py"}  # the registry; the command line's argparse choices are below
    copies = [
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        if "get_close_matches" in path.read_text(encoding="utf-8")
        and path.name not in allowed
        and path.relative_to(SRC).parts[0] != "cli"
    ]
    assert copies == []
