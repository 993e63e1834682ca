"""Style-transfer losses as pure functions.

Features are (B, C, H, W) tensors. All statistics are means over positions, so the
numbers do not grow with image size; each loss is divided by a scale taken from its
target, so one set of weights works across layers and backbones (where Gatys et al.
tune a weight per network instead).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

__all__ = [
    "content_loss",
    "gram_loss",
    "gram_matrix",
    "mean_and_second_moment",
    "mean_std_loss",
    "total_variation",
    "trace_sqrtm",
    "wasserstein_style_loss",
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


def _fit_mask(mask: torch.Tensor | None, features: torch.Tensor) -> torch.Tensor | None:
    """Resize a (B, 1, H, W) mask to the feature map's size."""
    if mask is None or mask.shape[-2:] == features.shape[-2:]:
        return mask
    return F.interpolate(mask, size=features.shape[-2:], mode="bilinear", align_corners=False)


def gram_loss(features: torch.Tensor, target_gram: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Squared Frobenius distance of Gram matrices relative to the target's norm.

    ``||G(F) - G_t||^2 / ||G_t||^2``. Gatys et al. use ``1 / (4 N^2 M^2)``; ours keeps
    the value near 1 for an unrelated image whatever the layer, size or backbone.
    With ``mask`` the Gram matrix is taken over the masked region only.
    """
    g = gram_matrix(features, _fit_mask(mask, features))
    return (g - target_gram).pow(2).sum((-2, -1)).div(target_gram.pow(2).sum((-2, -1)) + _EPS).mean()


def content_loss(features: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared feature error relative to the target's mean square.

    With ``mask`` (B, 1, H, W), positions are weighted (the face-aware weighting).
    """
    err = (features - target).pow(2)
    scale = target.pow(2).mean() + _EPS
    m = _fit_mask(mask, features)
    if m is None:
        return err.mean() / scale
    return (err * m).mean() / scale


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of neighbouring pixels (anisotropic, L2), image in [0, 1]."""
    dx = image[..., :, 1:] - image[..., :, :-1]
    dy = image[..., 1:, :] - image[..., :-1, :]
    return dx.pow(2).mean() + dy.pow(2).mean()


def mean_and_second_moment(
    features: torch.Tensor, mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean (B, C) and second raw moment E[f f^T] (B, C, C), over the
    ``mask``-weighted positions when a mask is given.

    Unlike the covariance, these combine linearly, so several styles blend soundly.
    """
    m = _fit_mask(mask, features)
    if m is None:
        mean = features.mean((-2, -1))
    else:
        mean = (features * m).sum((-2, -1)) / m.sum((-2, -1)).clamp_min(_EPS)
    return mean, gram_matrix(features, m)


class _TraceSqrtm(torch.autograd.Function):
    """tr(sqrt(M)) for symmetric positive semi-definite M, with gradient 1/2 M^(-1/2)."""

    @staticmethod
    def forward(ctx: Any, m: torch.Tensor, eps: float) -> torch.Tensor:
        vals, vecs = torch.linalg.eigh(m)
        s = vals.clamp_min(eps).sqrt()
        ctx.save_for_backward(vecs, s)
        return s.sum(-1)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        vecs, s = ctx.saved_tensors
        g = (vecs * (0.5 / s).unsqueeze(-2)) @ vecs.transpose(-2, -1)
        return g * grad[..., None, None], None


def trace_sqrtm(m: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Trace of the principal square root of symmetric PSD matrices (..., C, C)."""
    return _TraceSqrtm.apply(m, eps)


def sqrtm_psd(m: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Principal square root of symmetric PSD matrices (no gradient needed: targets)."""
    vals, vecs = torch.linalg.eigh(m)
    return (vecs * vals.clamp_min(eps).sqrt().unsqueeze(-2)) @ vecs.transpose(-2, -1)


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
    mean, srm = mean_and_second_moment(features, mask)
    c = features.shape[1]
    eye = torch.eye(c, dtype=features.dtype, device=features.device)
    cov = srm - mean.unsqueeze(-1) * mean.unsqueeze(-2) + eps * eye
    mean_term = (mean - target_mean).pow(2).sum(-1)
    cross = target_cov_sqrt @ cov @ target_cov_sqrt
    cross = 0.5 * (cross + cross.transpose(-2, -1))  # keep it symmetric for eigh
    cov_term = cov.diagonal(dim1=-2, dim2=-1).sum(-1) + target_cov.diagonal(dim1=-2, dim2=-1).sum(-1)
    cov_term = cov_term - 2.0 * trace_sqrtm(cross)
    scale = target_mean.pow(2).sum(-1) + target_cov.diagonal(dim1=-2, dim2=-1).sum(-1) + _EPS
    return ((mean_term + cov_term) / scale).mean()


def mean_std_loss(features: torch.Tensor, target_mean: torch.Tensor, target_std: torch.Tensor) -> torch.Tensor:
    """AdaIN's style loss (Huang and Belongie 2017, eq. 12): squared distance of the
    per-channel means and standard deviations, divided by the target's
    ``|mu_t|^2 + |sigma_t|^2`` so it is scale-free. Targets (B or 1, C, 1, 1)."""
    var, mean = torch.var_mean(features, dim=(-2, -1), keepdim=True, correction=0)
    std = (var + 1e-5).sqrt()
    num = (mean - target_mean).pow(2).sum((1, 2, 3)) + (std - target_std).pow(2).sum((1, 2, 3))
    den = target_mean.pow(2).sum((1, 2, 3)) + target_std.pow(2).sum((1, 2, 3)) + _EPS
    return (num / den).mean()
