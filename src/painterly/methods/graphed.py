"""One L-BFGS evaluation (the objective, its terms and the image's gradient) captured
as a CUDA graph and replayed.

At 512 px on an H100 the loop is launch-bound: an evaluation of efficientnet-lite0's
loss is ~840 kernels with ~3.7 ms of GPU work, and each launch from Python costs more
than the kernel. A graph replays all of them in one call. The capture needs an
evaluation that never waits for the host, so the 2-Wasserstein statistic's square
roots use the Newton-Schulz solver inside it (:func:`painterly.losses.sqrtm.sqrt_solver`;
on the CPU, with that solver, the README's main job judged as well as with
eigendecompositions: whole-image style 0.4753 vs 0.4848, identity 0.275 vs 0.281).

Only the plain :class:`~painterly.losses.Objective` (portrait regions included) is
captured: wrappers that keep Python state between evaluations (video's temporal terms,
the photorealistic regulariser) run eagerly. If the capture fails, the run goes on
eagerly with one warning; so does it when the first replay does not give the eager
evaluation's loss and gradient (checked once per capture).
"""

from __future__ import annotations

import warnings
from typing import Any

import torch

from painterly.errors import ConfigError
from painterly.losses import Objective
from painterly.losses.sqrtm import sqrt_solver

__all__ = ["MIN_GRAPHED_EVALUATIONS", "GraphedEvaluation", "graph_evaluation", "wants_graph"]

# capturing costs the warm-up evaluations and one traced evaluation: not worth it for fewer
MIN_GRAPHED_EVALUATIONS = 12
_WARMUP = 2


def wants_graph(setting: bool | None, x: torch.Tensor, objective: Any, optimizer: str, n_iter: int) -> bool:
    """Whether this optimisation captures its evaluation: ``setting`` None (auto) on a
    CUDA device for L-BFGS over a plain :class:`Objective` and at least
    :data:`MIN_GRAPHED_EVALUATIONS` evaluations; True asks for it and is refused off CUDA."""
    if setting is False:
        return False
    if setting and x.device.type != "cuda":
        raise ConfigError(f"cuda-graphs needs a CUDA device; this run is on {x.device.type}")
    return (x.device.type == "cuda" and optimizer == "lbfgs" and isinstance(objective, Objective)
            and n_iter >= MIN_GRAPHED_EVALUATIONS)


class GraphedEvaluation:
    """``objective(x)`` and ``x.grad`` as one CUDA graph over ``x``'s storage.

    ``x`` is a CUDA leaf tensor that requires grad and is only ever changed in place (as
    L-BFGS does). Each call clamps ``x`` to [0, 1], evaluates, and leaves the gradient in
    ``x.grad`` (the graph's own tensor: do not set it to None); it returns the total loss
    and a tensor of [total, *terms] (names in :attr:`names`)."""

    def __init__(self, objective: Objective, x: torch.Tensor, warmup: int = _WARMUP) -> None:
        if x.device.type != "cuda" or not x.requires_grad or not x.is_leaf:
            raise ValueError("GraphedEvaluation needs a CUDA leaf tensor that requires grad")
        self.x = x
        side = torch.cuda.Stream(device=x.device)
        side.wait_stream(torch.cuda.current_stream(x.device))
        with sqrt_solver("newton-schulz"), torch.cuda.stream(side):
            # lazy initialisation (cuDNN and cuBLAS handles, workspaces, the objective's
            # cached masks and targets) happens here, outside the capture
            for _ in range(max(1, warmup)):
                x.grad = None
                total, eager = self._evaluate(objective)
                total.backward()
            assert x.grad is not None
            eager_grad = x.grad.detach().clone()
        torch.cuda.current_stream(x.device).wait_stream(side)
        x.grad = None  # the captured backward allocates the gradient in the graph's pool
        self.graph = torch.cuda.CUDAGraph()
        # thread_local: another thread's CUDA work (a web server's next job) does not void the capture
        with sqrt_solver("newton-schulz"), torch.cuda.graph(self.graph, capture_error_mode="thread_local"):
            total, values = self._evaluate(objective)
            total.backward()
        self.total, self.values = total.detach(), values
        self._check(eager, eager_grad)

    def _check(self, eager: torch.Tensor, eager_grad: torch.Tensor) -> None:
        """Replay once at the warm-up's image and compare with its eager evaluation: a
        graph that baked in something from the host would differ, and the caller then
        runs eagerly (:func:`graph_evaluation`) instead of optimising the wrong loss."""
        self.graph.replay()
        assert self.x.grad is not None
        loss_gap = float((self.values - eager).abs().max() / eager.abs().max().clamp_min(1e-12))
        grad_gap = float((self.x.grad - eager_grad).norm() / eager_grad.norm().clamp_min(1e-12))
        if not (loss_gap < 1e-3 and grad_gap < 1e-2):  # TF32 convolutions: not bit-equal
            raise RuntimeError(f"the graph's replay differs from the eager evaluation (loss by {loss_gap:.1e}, "
                               f"gradient by {grad_gap:.1e})")

    def _evaluate(self, objective: Objective) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            self.x.clamp_(0, 1)
        total, terms = objective(self.x)
        self.names = list(terms)
        return total, torch.stack([total.detach(), *(v.detach() for v in terms.values())])

    def __call__(self) -> tuple[torch.Tensor, torch.Tensor]:
        self.graph.replay()
        return self.total, self.values


def graph_evaluation(objective: Objective, x: torch.Tensor) -> GraphedEvaluation | None:
    """:class:`GraphedEvaluation`, or None (with a warning) when the capture fails:
    the caller then evaluates eagerly."""
    try:
        return GraphedEvaluation(objective, x)
    except RuntimeError as exc:  # an operation that waits for the host, or a driver refusal
        torch.cuda.synchronize(x.device)
        x.grad = None
        warnings.warn(f"CUDA graph capture failed, running eagerly: {str(exc).splitlines()[0]}",
                      RuntimeWarning, stacklevel=2)
        return None
