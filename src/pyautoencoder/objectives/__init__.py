"""Training objectives as objects, separate from the models (Pyro's ``Trace_ELBO`` style).

``VAE(encoder, decoder, latent_dim, objective=ImportanceWeightedBound(50))`` trains the same
networks on another bound; ``ELBO() + DIPPenalty("ii", 10.0)`` adds a penalty. Every
objective is ``objective(model, x, output, *, beta=1, likelihood=None) -> LossResult`` and
reads only the terms of :class:`VariationalModel` from the model. See
``docs/objectives.md`` for how to write one.
"""

from ._base import OBJECTIVES, Objective, SumObjective, VariationalModel, register_objective
from ._capacity import CapacityELBO, LinearCapacity
from ._ciwae import CIWAE
from ._dip import DIPPenalty
from ._elbo import ELBO
from ._importance import ImportanceWeightedBound
from ._kl_balance import KLBalancedELBO
from ._miwae import MIWAE
from ._mmd import MMDPenalty
from ._piwae import PIWAE
from ._total_correlation import TotalCorrelation

__all__ = [
    "CIWAE",
    "ELBO",
    "MIWAE",
    "PIWAE",
    "CapacityELBO",
    "KLBalancedELBO",
    "DIPPenalty",
    "LinearCapacity",
    "MMDPenalty",
    "TotalCorrelation",
    "OBJECTIVES",
    "ImportanceWeightedBound",
    "Objective",
    "SumObjective",
    "VariationalModel",
    "register_objective",
]
