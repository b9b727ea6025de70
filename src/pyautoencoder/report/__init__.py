"""Visual reports of a trained model: the figures that fit its family.

Needs matplotlib (``pip install "pyautoencoder[plots]"``). :func:`model_figures` draws the
figures a model offers on held-out data, chosen from its declared
:attr:`~pyautoencoder._base.BaseAutoencoder.capabilities` (VAE family: reconstructions, prior
samples, traversals, latent map; conditional models: samples per label; deterministic
autoencoders: reconstructions and latent map; VQ-VAE: reconstructions and codebook usage; a
figure a model lacks is replaced by one sentence saying why). :func:`curves_figure` draws the
training curves of a ``metrics.jsonl``, and :func:`write_report` writes a self-contained
``report.html`` (figures inline as base64 PNG) plus ``figures/<name>.png``.
"""

from ._catalog import model_figures
from ._html import Figure, Report, curves_figure, write_report
from ._views import image_shape, latent_means, pca_2d, to_display

__all__ = [
    "Figure",
    "Report",
    "curves_figure",
    "image_shape",
    "latent_means",
    "model_figures",
    "pca_2d",
    "to_display",
    "write_report",
]
