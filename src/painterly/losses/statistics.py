"""Style statistics: how a set of style images becomes per-layer targets, and the loss
against those targets. Several styles blend by weighted averages of statistics that
combine linearly (Gram / second raw moment, mean).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import torch

from painterly.errors import ConfigError
from painterly.losses.functional import (
    fit_mask,
    gram_loss,
    gram_matrix,
    mean_and_second_moment,
    sqrtm_psd,
    wasserstein_style_loss,
    wasserstein_style_losses,
)

__all__ = ["STATISTICS", "GramStatistic", "StyleStatistic", "WassersteinStatistic", "accumulate_moments",
           "get_statistic"]

Target = dict[str, torch.Tensor]
LossItem = tuple[torch.Tensor, Target, "torch.Tensor | None"]


class StyleStatistic(Protocol):
    name: str

    def target(self, features: Sequence[torch.Tensor], weights: Sequence[float],
               mask: torch.Tensor | None = None) -> Target:
        """Blend the statistics of several styles' features (one tensor per style);
        with ``mask`` (1, 1, h, w), of the masked part of each style only."""
        ...

    def moments(self, features: torch.Tensor, mask: torch.Tensor | None = None) -> Target:
        """The statistics of ``features`` that blend linearly: a weighted sum of these
        over several feature maps, through :meth:`from_moments`, is :meth:`target` of
        them (large style images go through the network in strips, each reduced at once)."""
        ...

    def from_moments(self, moments: Target) -> Target: ...

    def loss(self, features: torch.Tensor, target: Target, mask: torch.Tensor | None = None) -> torch.Tensor: ...

    def losses(self, items: Sequence[LossItem], *, reduce: bool = True) -> list[torch.Tensor]:
        """:meth:`loss` of several (features, target, mask) items, e.g. all style layers;
        ``reduce=False``: one value per batch entry of each item instead of their mean."""
        ...


class GramStatistic:
    """Gram matrices (Gatys et al. 2016)."""

    name = "gram"

    def target(self, features: Sequence[torch.Tensor], weights: Sequence[float],
               mask: torch.Tensor | None = None) -> Target:
        return self.from_moments(_blend([self.moments(f, mask) for f in features], weights))

    def moments(self, features: torch.Tensor, mask: torch.Tensor | None = None) -> Target:
        return {"gram": gram_matrix(features, fit_mask(mask, features))}

    def from_moments(self, moments: Target) -> Target:
        return {"gram": moments["gram"]}

    def loss(self, features: torch.Tensor, target: Target, mask: torch.Tensor | None = None) -> torch.Tensor:
        return gram_loss(features, target["gram"], mask)

    def losses(self, items: Sequence[LossItem], *, reduce: bool = True) -> list[torch.Tensor]:
        return [gram_loss(f, t["gram"], m, reduce=reduce) for f, t, m in items]


class WassersteinStatistic:
    """Mean and covariance matched by the 2-Wasserstein distance between Gaussians
    (as in crowsonkb/style-transfer-pytorch)."""

    name = "wasserstein"

    def __init__(self, eps: float = 1e-4) -> None:
        self.eps = eps

    def target(self, features: Sequence[torch.Tensor], weights: Sequence[float],
               mask: torch.Tensor | None = None) -> Target:
        return self.from_moments(_blend([self.moments(f, mask) for f in features], weights))

    def moments(self, features: torch.Tensor, mask: torch.Tensor | None = None) -> Target:
        mean, srm = mean_and_second_moment(features, mask)
        return {"mean": mean, "srm": srm}

    def from_moments(self, moments: Target) -> Target:
        mean, srm = moments["mean"], moments["srm"]
        c = srm.shape[-1]
        eye = torch.eye(c, dtype=srm.dtype, device=srm.device)
        cov = srm - mean.unsqueeze(-1) * mean.unsqueeze(-2) + self.eps * eye
        return {"mean": mean, "cov": cov, "cov_sqrt": sqrtm_psd(cov)}

    def loss(self, features: torch.Tensor, target: Target, mask: torch.Tensor | None = None) -> torch.Tensor:
        return wasserstein_style_loss(features, target["mean"], target["cov"], target["cov_sqrt"], self.eps, mask)

    def losses(self, items: Sequence[LossItem], *, reduce: bool = True) -> list[torch.Tensor]:
        """All items with one batched eigendecomposition."""
        return wasserstein_style_losses(
            [(f, t["mean"], t["cov"], t["cov_sqrt"], m) for f, t, m in items], self.eps, reduce=reduce)


def accumulate_moments(total: Target | None, moments: Target, weight: float) -> Target:
    """``total + weight * moments`` key by key (:meth:`StyleStatistic.moments` results;
    ``total`` None: the first term)."""
    return {k: weight * v if total is None else total[k] + weight * v for k, v in moments.items()}


def _blend(moments: Sequence[Target], weights: Sequence[float]) -> Target:
    """The weighted sum of :meth:`StyleStatistic.moments` results."""
    total: Target | None = None
    for m, w in zip(moments, weights, strict=False):
        total = accumulate_moments(total, m, w)
    assert total is not None, "no features to take statistics of"
    return total


STATISTICS: dict[str, type] = {"gram": GramStatistic, "wasserstein": WassersteinStatistic}


def get_statistic(name: str) -> StyleStatistic:
    if name not in STATISTICS:
        raise ConfigError(f"unknown style statistic {name!r}; choose from {', '.join(STATISTICS)}")
    return STATISTICS[name]()
