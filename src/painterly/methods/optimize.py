"""The optimisation loop: minimise an objective over an image's pixels with L-BFGS
or Adam, keeping the lowest-loss iterate (and optionally an average of iterates)."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable

import torch

from painterly.errors import NonFiniteLossError
from painterly.losses import Objective
from painterly.methods.config import GatysConfig
from painterly.methods.graphed import graph_evaluation, wants_graph

__all__ = ["optimize"]

# Optimizer methods torch wraps in torch._disable_dynamo (kept out of compiled graphs)
_DYNAMO_WRAPPED = ("add_param_group", "zero_grad", "state_dict", "load_state_dict")


def _skip_dynamo_import() -> None:
    """Spare the process torch._dynamo's import (1.2 s on 2 CPU cores, ~6% of the
    README's main job), which ``torch.optim.Optimizer`` triggers on its first
    ``add_param_group`` only to keep that method out of graphs that nothing here
    compiles: each wrapped method is marked as handled, by itself, the way
    ``torch._disable_dynamo`` caches its first answer. A process that has loaded
    dynamo already keeps torch's own behaviour; a torch without these attributes is
    left as it is. (Adam's step imports dynamo outright: only L-BFGS is spared.)"""
    if "torch._dynamo" in sys.modules:
        return
    for name in _DYNAMO_WRAPPED:
        raw = getattr(getattr(torch.optim.Optimizer, name, None), "__wrapped__", None)
        if callable(raw) and getattr(raw, "__dynamo_disable", None) is None:
            setattr(raw, "__dynamo_disable", raw)


def optimize(
    image: torch.Tensor,
    objective: Objective,
    n_iter: int,
    cfg: GatysConfig,
    on_step: Callable[[torch.Tensor, dict[str, float]], None],
) -> tuple[torch.Tensor, torch.Tensor]:
    """Minimise ``objective`` from ``image`` for ``n_iter`` evaluations.

    Returns (result, lowest-loss image). The result is the lowest-loss image for L-BFGS,
    the last iterate for Adam, or with ``cfg.ema`` the exponential moving average of
    the iterates.
    """
    x = image.detach().clone(memory_format=torch.contiguous_format).requires_grad_(True)
    best = image.detach().clone()
    best_loss = float("inf")
    ema = image.detach().clone() if cfg.ema > 0 else None
    if n_iter == 0:
        return best, best
    evals = 0
    graphed = None
    if wants_graph(cfg.cuda_graphs, x, objective, cfg.optimizer, n_iter):
        graphed = graph_evaluation(objective, x)

    def evaluate() -> tuple[torch.Tensor, list[str], list[float]]:
        if graphed is not None:  # clamp, loss and gradient replayed in one call
            total, values = graphed()
            return total, graphed.names, values.tolist()
        with torch.no_grad():
            x.clamp_(0, 1)
        total, terms = objective(x)
        # one device-to-host copy for all logged numbers (each float() would wait for the GPU)
        return total, list(terms), torch.stack([total.detach(), *(v.detach() for v in terms.values())]).tolist()

    def closure() -> torch.Tensor:
        nonlocal best, best_loss, evals, ema
        total, names, (value, *term_values) = evaluate()
        if not math.isfinite(value):
            raise NonFiniteLossError(
                f"loss became {value} at evaluation {evals + 1}; try lower weights or optimizer=adam",
                last_good=best,
            )
        evals += 1
        if value < best_loss:
            best_loss = value
            best = x.detach().clone()
        if ema is not None:
            ema.mul_(cfg.ema).add_(x.detach(), alpha=1 - cfg.ema)
        on_step(x.detach(), {"total": value, **dict(zip(names, term_values, strict=True))})
        if graphed is None:
            x.grad = None
            total.backward()
        return total

    _skip_dynamo_import()
    if cfg.optimizer == "lbfgs":
        opt: torch.optim.Optimizer = torch.optim.LBFGS(
            [x], lr=1.0, max_iter=n_iter, max_eval=n_iter, history_size=20,
            tolerance_grad=0.0, tolerance_change=0.0,
        )
        while evals < n_iter:
            before = evals
            opt.step(closure)  # type: ignore[arg-type]
            if evals == before:
                break
    else:
        opt = torch.optim.Adam([x], lr=cfg.lr)
        for _ in range(n_iter):
            opt.zero_grad()
            opt.step(closure)
    with torch.no_grad():
        x.clamp_(0, 1)
    if cfg.optimizer == "lbfgs":
        # L-BFGS without a line search ends wherever the budget runs out, often on a step
        # that overshot: its last iterate was 0.04 above its best at 512 px
        return best, best
    final = ema if ema is not None else x.detach()
    return final.clamp(0, 1), best
