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
from painterly.losses.objective import LossWeights, Objective, SpatialControl, StyleRegion, Targets
from painterly.losses.statistics import STATISTICS, GramStatistic, StyleStatistic, WassersteinStatistic, get_statistic

__all__ = [
    "STATISTICS",
    "GramStatistic",
    "LossWeights",
    "Objective",
    "SpatialControl",
    "StyleRegion",
    "StyleStatistic",
    "Targets",
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
