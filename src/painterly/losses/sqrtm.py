"""Matrix square roots for the 2-Wasserstein style loss: tr(sqrt(M)) with its gradient,
and sqrt(M) for targets, of symmetric positive semi-definite matrices.

Two solvers give tr(sqrt(M)):

* ``"eigh"`` (the default): an eigendecomposition. From a GPU, matrices up to
  ``_HOST_EIGH_MAX`` wide are solved on the CPU in float64, a host round trip per call.
* ``"newton-schulz"``: the coupled Newton-Schulz iteration (Higham 2008, eq. 6.35), a
  fixed number of matrix products in float64 on the tensor's own device. It never waits
  for the host, so an evaluation that uses it can be captured in a CUDA graph
  (:mod:`painterly.methods.graphed`). Its eigenvalues are shifted by 1e-6 of the
  trace (``NEWTON_SCHULZ_SHIFT``), so where they are all well above that it agrees
  with ``"eigh"`` to about 1e-6 times the width (3e-4 at 512; efficientnet-lite0's
  style layers: 4e-5 - 2e-4). In a rank-deficient matrix's near-null directions its
  gradient is smaller than the eigendecomposition's (``1/(2 sqrt(eps))`` there), which
  acts as a softer clamp; a matrix whose eigenvalues all sit at ``eps`` (features that
  vanish, as in VGG-19 with random weights) differs by up to 40%.

:func:`sqrt_solver` picks one for the code run inside it (per thread and task, a
:class:`contextvars.ContextVar`); a stream that is capturing a CUDA graph always gets
Newton-Schulz, the only one that can be captured.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Sequence
from typing import Any

import torch

__all__ = [
    "NEWTON_SCHULZ_ITERATIONS",
    "SQRT_SOLVERS",
    "sqrt_solver",
    "sqrtm_psd",
    "trace_sqrtm",
    "trace_sqrtm_many",
]

SQRT_SOLVERS = ("eigh", "newton-schulz")
# float64 products: the well-conditioned style layers converge to rounding by 15-20 (measured on
# efficientnet-lite0's five style layers of a 512 px portrait against starry_night)
NEWTON_SCHULZ_ITERATIONS = 30
NEWTON_SCHULZ_SHIFT = 1e-6
_SOLVER: contextvars.ContextVar[str] = contextvars.ContextVar("painterly_sqrt_solver", default="eigh")


@contextlib.contextmanager
def sqrt_solver(name: str) -> Iterator[None]:
    """Use solver ``name`` (one of :data:`SQRT_SOLVERS`) for tr(sqrt(M)) inside the block."""
    if name not in SQRT_SOLVERS:
        raise ValueError(f"unknown square-root solver {name!r}; choose from {', '.join(SQRT_SOLVERS)}")
    token = _SOLVER.set(name)
    try:
        yield
    finally:
        _SOLVER.reset(token)


def _solver_for(m: torch.Tensor) -> str:
    if m.is_cuda and torch.cuda.is_current_stream_capturing():
        return "newton-schulz"
    return _SOLVER.get()


_HOST_EIGH_MAX = 160  # widest matrix sent to the CPU solver from a GPU (efficientnet-lite0: 80)


def _eigh(m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``torch.linalg.eigh``; for a GPU tensor up to ``_HOST_EIGH_MAX`` wide, on the CPU
    in float64. Measured on an H100 (torch 2.11) with efficientnet-lite0: the float32 GPU
    solver waits for the host anyway (it checks for errors), and with it batched over the
    style layers the 500-step L-BFGS loop stalled at loss 0.60 instead of 0.51; on the CPU
    in float64 it reaches 0.51. Wider matrices (VGG-19's 256 and 512 channels) stay on the
    GPU, where one solve costs about what the CPU needs for it (not measured further)."""
    if m.device.type == "cpu" or m.shape[-1] > _HOST_EIGH_MAX:
        return torch.linalg.eigh(m)
    vals, vecs = torch.linalg.eigh(m.detach().to("cpu", torch.float64))
    return vals.to(m.device, m.dtype), vecs.to(m.device, m.dtype)


class _TraceSqrtm(torch.autograd.Function):
    """tr(sqrt(M)) for symmetric positive semi-definite M, with gradient 1/2 M^(-1/2)."""

    @staticmethod
    def forward(ctx: Any, m: torch.Tensor, eps: float) -> torch.Tensor:
        vals, vecs = _eigh(m)
        s = vals.clamp_min(eps).sqrt()
        ctx.save_for_backward(vecs, s)
        return s.sum(-1)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        vecs, s = ctx.saved_tensors
        g = (vecs * (0.5 / s).unsqueeze(-2)) @ vecs.transpose(-2, -1)
        return g * grad[..., None, None], None


def _newton_schulz(m: torch.Tensor, eps: float, iterations: int) -> tuple[torch.Tensor, torch.Tensor]:
    """tr(sqrt(M + eps I)) and 1/2 (M + eps I)^(-1/2) of a batch (N, C, C), in float64.

    Each matrix is divided by its trace, so its eigenvalues lie in (0, 1], where the
    iteration Y <- Y T, Z <- T Z, T = (3 I - Z Y) / 2 takes Y to sqrt(A) and Z to its
    inverse."""
    a = m.to(torch.float64)
    c = a.shape[-1]
    eye = torch.eye(c, dtype=a.dtype, device=a.device)
    a = 0.5 * (a + a.transpose(-2, -1))
    # float32 products leave a rank-deficient matrix's zero eigenvalues slightly negative,
    # where the iteration diverges: the shift is relative to the trace (>= the largest eigenvalue)
    a = a + (eps + NEWTON_SCHULZ_SHIFT * a.diagonal(dim1=-2, dim2=-1).sum(-1))[:, None, None] * eye
    norm = a.diagonal(dim1=-2, dim2=-1).sum(-1).clamp_min(eps)[:, None, None]
    y = a / norm
    z = eye.expand_as(a)
    for _ in range(iterations):
        t = 1.5 * eye - 0.5 * (z @ y)
        y, z = y @ t, t @ z
    root_norm = norm.sqrt()
    return y.diagonal(dim1=-2, dim2=-1).sum(-1) * root_norm[:, 0, 0], 0.5 * z / root_norm


class _TraceSqrtmNewtonSchulz(torch.autograd.Function):
    """:class:`_TraceSqrtm` by the Newton-Schulz iteration (no eigendecomposition)."""

    @staticmethod
    def forward(ctx: Any, m: torch.Tensor, eps: float, iterations: int) -> torch.Tensor:
        flat = m.reshape(-1, m.shape[-2], m.shape[-1])
        trace, half_inv = _newton_schulz(flat, eps, iterations)
        ctx.save_for_backward(half_inv.to(m.dtype).reshape(m.shape))
        return trace.to(m.dtype).reshape(m.shape[:-2])

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        (half_inv,) = ctx.saved_tensors
        return half_inv * grad[..., None, None], None, None


def trace_sqrtm(m: torch.Tensor, eps: float = 1e-8, *, solver: str | None = None) -> torch.Tensor:
    """Trace of the principal square root of symmetric PSD matrices (..., C, C).
    ``solver``: one of :data:`SQRT_SOLVERS`; None: :func:`sqrt_solver`'s choice."""
    if (solver or _solver_for(m)) == "newton-schulz":
        return _TraceSqrtmNewtonSchulz.apply(m, eps, NEWTON_SCHULZ_ITERATIONS)
    return _TraceSqrtm.apply(m, eps)


def sqrtm_psd(m: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Principal square root of symmetric PSD matrices (no gradient needed: targets).

    Computed once per style and size, in float64 on the CPU: style covariances are
    rank-deficient (a deep layer of a small image has fewer positions than channels) and
    the square root of their cluster of tiny eigenvalues is where float32 loses digits.
    """
    vals, vecs = torch.linalg.eigh(m.detach().to("cpu", torch.float64))
    root = (vecs * vals.clamp_min(eps).sqrt().unsqueeze(-2)) @ vecs.transpose(-2, -1)
    return root.to(m.device, m.dtype)


def trace_sqrtm_many(mats: Sequence[torch.Tensor], eps: float = 1e-8, *,
                     solver: str | None = None) -> list[torch.Tensor]:
    """:func:`trace_sqrtm` of several batches of symmetric PSD matrices (each
    (..., C_i, C_i)), with one eigendecomposition per distinct size C_i: matrices of a
    size are concatenated into one batch. On a GPU every solver call is a host round
    trip (:func:`_eigh`), so fewer calls are faster; values and gradients are exactly
    those of one call per matrix. With Newton-Schulz, matrices of similar widths
    (:func:`_width_groups`) go in one batch, the smaller ones padded with a block of their
    mean eigenvalue times the identity (block-diagonal stays block-diagonal, and its
    root's trace is taken off again), so the products are launched once per group."""
    if not mats:
        return []
    flat = [m.reshape(-1, m.shape[-2], m.shape[-1]) for m in mats]
    widths = [f.shape[-1] for f in flat]
    if (solver or _solver_for(mats[0])) == "newton-schulz":
        groups = _width_groups(widths)

        def solve(group: list[torch.Tensor]) -> Sequence[torch.Tensor]:
            return _padded_newton_schulz(group, eps)
    else:
        groups = [[i for i, w in enumerate(widths) if w == c] for c in dict.fromkeys(widths)]

        def solve(group: list[torch.Tensor]) -> Sequence[torch.Tensor]:
            return trace_sqrtm(torch.cat(group), eps, solver="eigh").split([g.shape[0] for g in group])
    out: list[torch.Tensor | None] = [None] * len(mats)
    for idx in groups:
        for i, t in zip(idx, solve([flat[i] for i in idx]), strict=True):
            out[i] = t.reshape(mats[i].shape[:-2])
    return [t for t in out if t is not None]


def _width_groups(widths: Sequence[int]) -> list[list[int]]:
    """Indices of ``widths`` in groups padded to one width: a matrix joins the widest of
    its group when more than half as wide (products grow with the cube of the width:
    VGG-19's 64-channel layer is not padded to 512; efficientnet-lite0's 40, 32 and 24
    go in one batch)."""
    groups: list[list[int]] = []
    for i in sorted(range(len(widths)), key=lambda i: -widths[i]):
        if groups and 2 * widths[i] > widths[groups[-1][0]]:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


def _padded_newton_schulz(flat: Sequence[torch.Tensor], eps: float) -> list[torch.Tensor]:
    """tr(sqrt) of batches (N_i, C_i, C_i) with one Newton-Schulz run, padded to the widest."""
    width = max(f.shape[-1] for f in flat)
    # each padding block's eigenvalue is its matrix's mean eigenvalue: it converges with the
    # well-conditioned part instead of slowing the iteration down
    scales = [f.diagonal(dim1=-2, dim2=-1).sum(-1).detach() / f.shape[-1] for f in flat]
    padded = []
    for f, scale in zip(flat, scales, strict=True):
        c = f.shape[-1]
        if c == width:
            padded.append(f)
            continue
        block = torch.zeros(f.shape[0], width, width, dtype=f.dtype, device=f.device)
        block[:, c:, c:] = torch.eye(width - c, dtype=f.dtype, device=f.device) * scale[:, None, None]
        padded.append(block + torch.nn.functional.pad(f, [0, width - c, 0, width - c]))
    traces = trace_sqrtm(torch.cat(padded), eps, solver="newton-schulz")
    out = []
    for f, scale, t in zip(flat, scales, traces.split([f.shape[0] for f in flat]), strict=True):
        c = f.shape[-1]
        if c < width:  # the padding's root, its eigenvalue shifted as _newton_schulz shifts it
            shifted = scale + eps + NEWTON_SCHULZ_SHIFT * width * scale  # the padded trace is width * scale
            t = t - (width - c) * shifted.sqrt()
        out.append(t)
    return out
