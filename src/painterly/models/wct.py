"""Whitening and colouring transform of deep features (Li et al. 2017, "Universal
Style Transfer via Feature Transforms").

Content features are whitened (their channel covariance becomes the identity), then
coloured with the style's covariance and shifted to its mean. A style is kept as its
per-level (mean, colouring matrix) pair; several styles blend linearly in that pair,
because the colouring is linear in the matrix. Eigendecompositions run in float64 on
(C, C) matrices, batched, on the features' device.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["blend_wct", "covariance", "style_colouring", "wct", "whiten"]


def covariance(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, C, H, W) -> per-item channel mean (B, C, 1) and covariance (B, C, C), float64."""
    f = features.flatten(2).double()
    mean = f.mean(-1, keepdim=True)
    centred = f - mean
    n = max(f.shape[-1] - 1, 1)
    return mean, centred @ centred.transpose(1, 2) / n


def _matrix_power(cov: torch.Tensor, power: float, eps: float) -> torch.Tensor:
    """Symmetric (B, C, C) -> cov ** power through its eigendecomposition; eigenvalues
    below ``eps`` times the largest are treated as ``eps`` times the largest (rank-deficient
    features of flat images would otherwise blow the whitening up)."""
    vals, vecs = torch.linalg.eigh(cov)
    floor = vals.amax(-1, keepdim=True).clamp_min(1e-12) * eps
    vals = torch.maximum(vals, floor)
    return vecs @ torch.diag_embed(vals.pow(power)) @ vecs.transpose(1, 2)


def style_colouring(features: torch.Tensor, eps: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
    """A style's (mean (B, C, 1), colouring matrix Cs^(1/2) (B, C, C)), float64."""
    mean, cov = covariance(features)
    return mean, _matrix_power(cov, 0.5, eps)


def whiten(features: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """(B, C, H, W) -> whitened (B, C, H*W), float64: zero mean, identity covariance."""
    mean, cov = covariance(features)
    return _matrix_power(cov, -0.5, eps) @ (features.flatten(2).double() - mean)


def wct(features: torch.Tensor, style: tuple[torch.Tensor, torch.Tensor], eps: float = 1e-5) -> torch.Tensor:
    """Whiten ``features`` and colour them with ``style`` = (mean, colouring matrix)."""
    return blend_wct(features, [style], [1.0], eps=eps)


def blend_wct(
    features: torch.Tensor,
    styles: Sequence[tuple[torch.Tensor, torch.Tensor]],
    weights: Sequence[float],
    alpha: float = 1.0,
    eps: float = 1e-5,
) -> torch.Tensor:
    """``alpha * sum_k w_k WCT(features, style_k) + (1 - alpha) * features``, in the
    features' dtype and shape. The weighted sum of colourings is one colouring with the
    weighted (mean, matrix)."""
    b, c, h, w = features.shape
    mean = sum(wk * m for (m, _), wk in zip(styles, weights, strict=True))
    colour = sum(wk * k for (_, k), wk in zip(styles, weights, strict=True))
    assert isinstance(mean, torch.Tensor) and isinstance(colour, torch.Tensor)
    out = (colour @ whiten(features, eps) + mean).reshape(b, c, h, w).to(features.dtype)
    return out if alpha >= 1.0 else alpha * out + (1.0 - alpha) * features

