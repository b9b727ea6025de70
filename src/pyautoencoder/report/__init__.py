"""Visual reports of a trained model: curves, reconstructions, samples, traversals, PCA.

Needs matplotlib (``pip install "pyautoencoder[plots]"``). :func:`model_figures` draws the
figures of a model on held-out data, :func:`curves_figure` the training curves of a
``metrics.jsonl``, and :func:`write_report` writes a self-contained ``report.html`` (figures
inline as base64 PNG) plus ``figures/<name>.png``.
"""

from ._html import Figure, Report, curves_figure, model_figures, write_report
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
