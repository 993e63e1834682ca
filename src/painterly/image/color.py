"""Colour utilities for original-colour transfer (Gatys et al. 2016, "Preserving
Color in Neural Artistic Style Transfer").

All functions take float tensors in [0, 1], shape (1, 3, H, W).
"""

from __future__ import annotations

import torch

from painterly.image.options import ORIGINAL_COLORS, check_original_colors

__all__ = [
    "ORIGINAL_COLORS",
    "check_original_colors",
    "histogram_match",
    "luminance",
    "luminance_matched",
    "match_color_stats",
    "original_colors",
    "rgb_to_yiq",
    "with_content_chroma",
    "yiq_to_rgb",
]


_RGB_TO_YIQ = torch.tensor(
    [[0.299, 0.587, 0.114], [0.595716, -0.274453, -0.321263], [0.211456, -0.522591, 0.311135]]
)


def rgb_to_yiq(x: torch.Tensor) -> torch.Tensor:
    """RGB (1, 3, H, W) -> YIQ (1, 3, H, W); Y in [0, 1]."""
    m = _RGB_TO_YIQ.to(x)
    return torch.einsum("ij,bjhw->bihw", m, x)


def yiq_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """YIQ (1, 3, H, W) -> RGB (1, 3, H, W), not clamped."""
    m = torch.linalg.inv(_RGB_TO_YIQ.double()).to(x)
    return torch.einsum("ij,bjhw->bihw", m, x)


def luminance(x: torch.Tensor) -> torch.Tensor:
    """Y channel of YIQ, replicated to 3 channels so networks can take it."""
    return rgb_to_yiq(x)[:, :1].expand(-1, 3, -1, -1).contiguous()


def luminance_matched(style: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Style luminance with mean and std matched to the content's (Gatys et al. 2016b)."""
    ys = luminance(style)
    yc = luminance(content)
    ys = (ys - ys.mean()) / (ys.std() + 1e-6) * yc.std() + yc.mean()
    return ys.clamp(0, 1)


def with_content_chroma(stylized: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """The stylised luminance (Y) with the content's chroma (I, Q), clamped to [0, 1]."""
    y = rgb_to_yiq(stylized)[:, :1]
    iq = rgb_to_yiq(content)[:, 1:]
    return yiq_to_rgb(torch.cat([y, iq], 1)).clamp(0, 1)


def match_color_stats(source: torch.Tensor, reference: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Affine colour transform of ``source`` so its pixel mean and covariance match
    ``reference`` (the "colour histogram matching" of Gatys et al. 2016, eq. 1-2,
    with the symmetric matrix square root)."""
    s = source.flatten(2)[0]  # (3, N)
    r = reference.flatten(2)[0]
    mu_s, mu_r = s.mean(1, keepdim=True), r.mean(1, keepdim=True)
    eye = torch.eye(3, dtype=torch.float64)
    cov_s = torch.cov(s.double()) + eps * eye
    cov_r = torch.cov(r.double()) + eps * eye

    def _sqrt(m: torch.Tensor, inverse: bool = False) -> torch.Tensor:
        vals, vecs = torch.linalg.eigh(m)
        vals = vals.clamp_min(eps).sqrt()
        if inverse:
            vals = 1.0 / vals
        return vecs @ torch.diag(vals) @ vecs.T

    a = (_sqrt(cov_r) @ _sqrt(cov_s, inverse=True)).to(source)
    out = a @ (s - mu_s) + mu_r
    return out.reshape_as(source).clamp(0, 1)


def histogram_match(source: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Per-channel exact histogram matching of ``source`` to ``reference`` (sort based)."""
    out = torch.empty_like(source)
    for c in range(source.shape[1]):
        src = source[0, c].flatten()
        ref = reference[0, c].flatten().sort().values
        order = src.argsort()
        idx = torch.linspace(0, ref.numel() - 1, src.numel(), device=src.device).round().long()
        matched = torch.empty_like(src)
        matched[order] = ref[idx]
        out[0, c] = matched.reshape(source.shape[-2:])
    return out


def original_colors(stylized: torch.Tensor, content: torch.Tensor, mode: str) -> torch.Tensor:
    """Give a stylised batch (B, 3, H, W) the content's colours afterwards.

    ``luminance``: the stylised Y with the content's I and Q (YIQ); ``histogram``: the
    stylised pixels' mean and covariance matched to the content's, per image.
    """
    check_original_colors(mode)
    if mode == "luminance":
        return with_content_chroma(stylized, content)
    return torch.cat([match_color_stats(s[None], c[None]) for s, c in zip(stylized, content, strict=True)])
