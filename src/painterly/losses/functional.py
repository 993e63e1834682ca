"""Style-transfer losses as pure functions.

Features are (B, C, H, W) tensors. All statistics are means over positions, so the
numbers do not grow with image size; each loss is divided by a scale taken from its
target, so one set of weights works across layers and backbones (where Gatys et al.
tune a weight per network instead).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from painterly.losses.sqrtm import sqrtm_psd, trace_sqrtm, trace_sqrtm_many

__all__ = [
    "content_loss",
    "fit_mask",
    "gram_loss",
    "gram_matrix",
    "mean_and_second_moment",
    "mean_std_loss",
    "sqrtm_psd",
    "total_variation",
    "trace_sqrtm",
    "trace_sqrtm_many",
    "wasserstein_style_loss",
    "wasserstein_style_losses",
]

_EPS = 1e-8


def gram_matrix(features: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Gram matrix F F^T / (H W), shape (B, C, C).

    With ``mask`` (B, 1, H, W) in [0, 1] the sum is weighted and divided by the mask's sum.
    """
    b, c, h, w = features.shape
    if features.is_contiguous(memory_format=torch.channels_last):
        # (B, HW, C) is a view of a channels-last tensor: no copy in forward or backward
        rows = features.permute(0, 2, 3, 1).reshape(b, h * w, c)
        if mask is None:
            return rows.transpose(1, 2) @ rows / (h * w)
        m = mask.reshape(b, h * w, 1)
        return (rows * m).transpose(1, 2) @ rows / m.sum(1, keepdim=True).clamp_min(_EPS)
    flat = features.reshape(b, c, h * w)
    if mask is None:
        return flat @ flat.transpose(1, 2) / (h * w)
    m = mask.reshape(b, 1, h * w)
    return (flat * m) @ flat.transpose(1, 2) / m.sum(-1, keepdim=True).clamp_min(_EPS)


def fit_mask(mask: torch.Tensor | None, features: torch.Tensor) -> torch.Tensor | None:
    """Resize a (B, 1, H, W) mask to the feature map's size."""
    if mask is None or mask.shape[-2:] == features.shape[-2:]:
        return mask
    return F.interpolate(mask, size=features.shape[-2:], mode="bilinear", align_corners=False)


def gram_loss(
    features: torch.Tensor, target_gram: torch.Tensor, mask: torch.Tensor | None = None, *, reduce: bool = True
) -> torch.Tensor:
    """Squared Frobenius distance of Gram matrices relative to the target's norm.

    ``||G(F) - G_t||^2 / ||G_t||^2``. Gatys et al. use ``1 / (4 N^2 M^2)``; ours keeps
    the value near 1 for an unrelated image whatever the layer, size or backbone.
    With ``mask`` the Gram matrix is taken over the masked region only. The mean over
    the batch; ``reduce=False``: one value per batch entry (features, masks and targets
    broadcast along it: one image against several regions' masks and targets).
    """
    g = mean_and_second_moment(features, mask)[1]  # the Gram matrix, with the lighter backward pass
    loss = (g - target_gram).pow(2).sum((-2, -1)).div(target_gram.pow(2).sum((-2, -1)) + _EPS)
    return loss.mean() if reduce else loss


def content_loss(features: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared feature error relative to the target's mean square.

    With ``mask`` (B, 1, H, W), positions are weighted (the face-aware weighting).
    """
    err = (features - target).pow(2)
    scale = target.pow(2).mean() + _EPS
    m = fit_mask(mask, features)
    if m is None:
        return err.mean() / scale
    return (err * m).mean() / scale


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of neighbouring pixels (anisotropic, L2), image in [0, 1]."""
    dx = image[..., :, 1:] - image[..., :, :-1]
    dy = image[..., 1:, :] - image[..., :-1, :]
    return dx.pow(2).mean() + dy.pow(2).mean()


class _Moments(torch.autograd.Function):
    """Per-channel mean and second raw moment with a hand-written backward pass.

    Autograd's graph of the same maths walks the feature map about twenty times per
    evaluation (a masked copy for the mean, another for the Gram matrix, two products
    and their sum in the backward pass, the mask applied to each gradient); this one
    about nine: forward ``W = R * w``, ``W^T R``, ``w^T R``; backward ``W (dS + dS^T)
    / s`` plus ``w dmean / s`` in place. With R (B, HW, C) the rows of a feature map,
    w its mask weights and s their sum, ``d/dr_n = w_n (r_n (dS + dS^T) + dmean) / s``.
    The feature maps of the first layers are several MB, so these passes are memory
    bound: 22 -> 13 ms per evaluation of the main job's five style layers (512 px, 2 CPU
    cores; docs/benchmarks.md, "Whole commands"). Masks get no gradient.
    """

    @staticmethod
    def forward(ctx: Any, features: torch.Tensor, mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        b, c, h, w = features.shape
        # positions along dim 1 of (B, HW, C) for a channels-last map, dim 2 of (B, C, HW)
        # otherwise: either is a view, and the gradient comes back in the features' layout
        last = features.is_contiguous(memory_format=torch.channels_last) and not features.is_contiguous()
        rows = features.permute(0, 2, 3, 1).reshape(b, h * w, c) if last else features.reshape(b, c, h * w)
        if mask is not None and b == 1 and mask.shape[0] > 1:
            return _Moments._regions(ctx, rows[0], mask, last, (h, w))
        pos = 1 if last else 2
        if mask is None:
            wts = None
            s = torch.full((b, 1, 1), float(h * w), dtype=features.dtype, device=features.device)
            weighted = rows
            mean = rows.mean(pos)
        else:
            wts = mask.expand(b, 1, h, w).reshape(b, h * w, 1).to(features.dtype)
            if not last:
                wts = wts.transpose(1, 2)  # (B, 1, HW)
            s = wts.sum(pos, keepdim=True).clamp_min(_EPS)
            weighted = rows * wts
            mean = (wts.transpose(1, 2) @ rows if last else rows @ wts.transpose(1, 2)).flatten(1) / s.flatten(1)
        ctx.save_for_backward(weighted, wts, s)
        ctx.shape, ctx.last, ctx.regions = (b, c, h, w), last, 0
        srm = weighted.transpose(1, 2) @ rows if last else weighted @ rows.transpose(1, 2)
        return mean, srm / s

    @staticmethod
    def _regions(
        ctx: Any, rows: torch.Tensor, mask: torch.Tensor, last: bool, size: tuple[int, int]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One image's rows ((HW, C) or (C, HW)) under R masks: the weighted copies side by
        side in one matrix, so each moment is one matrix product for all regions (a batch
        of R products against the same rows would copy the rows R times)."""
        n = mask.shape[0]
        c = rows.shape[1] if last else rows.shape[0]
        hw = rows.shape[0] if last else rows.shape[1]
        m = mask.reshape(n, hw).to(rows.dtype)  # (R, HW)
        s = m.sum(1, keepdim=True).clamp_min(_EPS)  # (R, 1)
        if last:
            weighted = (rows.unsqueeze(1) * m.t().contiguous().unsqueeze(2)).reshape(hw, n * c)  # (HW, R C)
            srm = (weighted.t() @ rows).view(n, c, c)
            mean = m @ rows
        else:
            weighted = (rows.unsqueeze(0) * m.unsqueeze(1)).reshape(n * c, hw)  # (R C, HW)
            srm = (weighted @ rows.t()).view(n, c, c)
            mean = m @ rows.t()
        ctx.save_for_backward(weighted, m, s)
        ctx.shape, ctx.last, ctx.regions = (1, c, *size), last, n
        return mean / s, srm / s.unsqueeze(-1)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, dmean: torch.Tensor | None, dsrm: torch.Tensor | None) -> tuple[torch.Tensor, None]:
        if ctx.regions:
            return _Moments._regions_backward(ctx, dmean, dsrm), None
        weighted, wts, s = ctx.saved_tensors
        (b, c, h, w), last = ctx.shape, ctx.last
        if dsrm is None:
            dsrm = weighted.new_zeros(b, c, c)
        sym = (dsrm + dsrm.transpose(1, 2)) / s
        grad = weighted @ sym if last else sym @ weighted
        if dmean is not None:
            vec = dmean.unsqueeze(1 if last else 2) / s  # (B, 1, C) or (B, C, 1)
            if wts is None:
                grad.add_(vec)
            else:
                grad.addcmul_(wts, vec)
        if last:
            return grad.reshape(b, h, w, c).permute(0, 3, 1, 2), None
        return grad.reshape(b, c, h, w), None

    @staticmethod
    def _regions_backward(ctx: Any, dmean: torch.Tensor | None, dsrm: torch.Tensor | None) -> torch.Tensor:
        """The gradient of :meth:`_regions`, the regions' terms summed by the same matrix
        products, in the features' layout."""
        weighted, m, s = ctx.saved_tensors
        (_, c, h, w), last, n = ctx.shape, ctx.last, ctx.regions
        if dsrm is None:
            dsrm = weighted.new_zeros(n, c, c)
        sym = (dsrm + dsrm.transpose(1, 2)) / s.unsqueeze(-1)  # (R, C, C)
        if last:
            grad = weighted @ sym.reshape(n * c, c)  # (HW, C)
            if dmean is not None:
                grad.addmm_(m.t(), dmean / s)
            return grad.reshape(1, h, w, c).permute(0, 3, 1, 2)
        grad = sym.permute(1, 0, 2).reshape(c, n * c) @ weighted  # (C, HW)
        if dmean is not None:
            grad.addmm_((dmean / s).t(), m)
        return grad.reshape(1, c, h, w)


def mean_and_second_moment(
    features: torch.Tensor, mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean (B, C) and second raw moment E[f f^T] (B, C, C), over the
    ``mask``-weighted positions when a mask is given (weights (B or 1, 1, H', W') in
    [0, 1], resized to the features). One image (B = 1) with masks (R, 1, H', W'):
    (R, C) and (R, C, C), the moments of each masked region.

    Unlike the covariance, these combine linearly, so several styles blend soundly.
    """
    m = fit_mask(mask, features)
    if m is not None and m.requires_grad:  # a learned mask: autograd's graph carries its gradient
        mean = (features * m).sum((-2, -1)) / m.sum((-2, -1)).clamp_min(_EPS)
        return mean, gram_matrix(features, m)
    return _Moments.apply(features, m)


def wasserstein_style_losses(
    items: Sequence[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]],
    eps: float = 1e-4,
    *,
    reduce: bool = True,
) -> list[torch.Tensor]:
    """:func:`wasserstein_style_loss` for several (features, target_mean, target_cov,
    target_cov_sqrt, mask) items, e.g. every style layer, with one batched
    eigendecomposition (:func:`trace_sqrtm_many`). Each the mean over the batch;
    ``reduce=False``: one value per batch entry (see :func:`gram_loss`)."""
    parts = []
    for features, target_mean, target_cov, target_cov_sqrt, mask in items:
        mean, srm = mean_and_second_moment(features, mask)
        c = features.shape[1]
        eye = torch.eye(c, dtype=features.dtype, device=features.device)
        cov = srm - mean.unsqueeze(-1) * mean.unsqueeze(-2) + eps * eye
        mean_term = (mean - target_mean).pow(2).sum(-1)
        cross = target_cov_sqrt @ cov @ target_cov_sqrt
        cross = 0.5 * (cross + cross.transpose(-2, -1))  # keep it symmetric for eigh
        cov_term = cov.diagonal(dim1=-2, dim2=-1).sum(-1) + target_cov.diagonal(dim1=-2, dim2=-1).sum(-1)
        scale = target_mean.pow(2).sum(-1) + target_cov.diagonal(dim1=-2, dim2=-1).sum(-1) + _EPS
        parts.append((mean_term + cov_term, cross, scale))
    roots = trace_sqrtm_many([cross for _, cross, _ in parts])
    losses = [(terms - 2.0 * root) / scale for (terms, _, scale), root in zip(parts, roots, strict=True)]
    return [loss.mean() for loss in losses] if reduce else losses


def wasserstein_style_loss(
    features: torch.Tensor,
    target_mean: torch.Tensor,
    target_cov: torch.Tensor,
    target_cov_sqrt: torch.Tensor,
    eps: float = 1e-4,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Squared 2-Wasserstein distance between Gaussians fitted to features and target.

    ``|mu - mu_t|^2 + tr(C + C_t - 2 (C_t^1/2 C C_t^1/2)^1/2)``, divided by the target's
    total second moment ``|mu_t|^2 + tr(C_t)`` so it is scale-free. With ``mask`` the
    Gaussian is fitted to the masked region only.
    """
    return wasserstein_style_losses([(features, target_mean, target_cov, target_cov_sqrt, mask)], eps)[0]


def mean_std_loss(features: torch.Tensor, target_mean: torch.Tensor, target_std: torch.Tensor) -> torch.Tensor:
    """AdaIN's style loss (Huang and Belongie 2017, eq. 12): squared distance of the
    per-channel means and standard deviations, divided by the target's
    ``|mu_t|^2 + |sigma_t|^2`` so it is scale-free. Targets (B or 1, C, 1, 1)."""
    var, mean = torch.var_mean(features, dim=(-2, -1), keepdim=True, correction=0)
    std = (var + 1e-5).sqrt()
    num = (mean - target_mean).pow(2).sum((1, 2, 3)) + (std - target_std).pow(2).sum((1, 2, 3))
    den = target_mean.pow(2).sum((1, 2, 3)) + target_std.pow(2).sum((1, 2, 3)) + _EPS
    return (num / den).mean()
