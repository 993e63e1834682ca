"""Content, style and regularisation losses."""

from painterly.losses.functional import (
    content_loss,
    gram_loss,
    gram_matrix,
    mean_and_second_moment,
    mean_std_loss,
    total_variation,
    trace_sqrtm,
    trace_sqrtm_many,
    wasserstein_style_loss,
    wasserstein_style_losses,
)
from painterly.losses.modules import STATISTICS, GramStatistic, StyleStatistic, WassersteinStatistic, get_statistic

__all__ = [
    "STATISTICS",
    "GramStatistic",
    "StyleStatistic",
    "WassersteinStatistic",
    "content_loss",
    "get_statistic",
    "gram_loss",
    "gram_matrix",
    "mean_and_second_moment",
    "mean_std_loss",
    "total_variation",
    "trace_sqrtm",
    "trace_sqrtm_many",
    "wasserstein_style_loss",
    "wasserstein_style_losses",
]
