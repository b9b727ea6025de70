"""Closed-form KL divergence between diagonal Gaussians.

The implementation lives in :mod:`pyautoencoder.distributions` (a lower layer: ``loss``
imports ``distributions``, never the reverse); this module keeps the 2.x import path.
"""

from __future__ import annotations

from ..distributions._gaussian import kl_divergence_diag_gaussian

__all__ = ["kl_divergence_diag_gaussian"]
