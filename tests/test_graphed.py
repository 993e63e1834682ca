"""The Newton-Schulz square roots that a CUDA graph can capture, and the choice of when
to capture (the capture itself is in tests/test_gpu.py: it needs a CUDA device)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from painterly import GatysConfig, Stylizer
from painterly.cli.main import main
from painterly.errors import ConfigError
from painterly.losses import Objective
from painterly.losses import sqrtm as sqrtm_module
from painterly.losses.sqrtm import sqrt_solver, trace_sqrtm, trace_sqrtm_many
from painterly.methods.graphed import MIN_GRAPHED_EVALUATIONS, wants_graph


def _spd(c: int, batch: int, seed: int, rank: int | None = None) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(batch, c, rank or 3 * c, generator=g, dtype=torch.float64)
    return 50.0 * a @ a.transpose(-2, -1) / a.shape[-1]


def test_newton_schulz_trace_and_gradient_match_the_eigendecomposition() -> None:
    m = _spd(24, 3, 0).requires_grad_()
    want = trace_sqrtm(m, solver="eigh")
    (g_want,) = torch.autograd.grad(want.sum(), m)
    got = trace_sqrtm(m, solver="newton-schulz")
    (g_got,) = torch.autograd.grad(got.sum(), m)
    torch.testing.assert_close(got, want, rtol=5e-5, atol=0)  # the shift of 1e-6 of the trace
    torch.testing.assert_close(g_got, g_want, rtol=1e-3, atol=1e-6)


def test_padded_batch_of_mixed_sizes_equals_one_solve_per_matrix() -> None:
    mats = [_spd(16, 2, 1).float(), _spd(40, 1, 2).float(), _spd(24, 2, 3).float(), _spd(30, 1, 7).float()]
    assert sqrtm_module._width_groups([m.shape[-1] for m in mats]) == [[1, 3, 2], [0]]  # 24 and 30 padded to 40
    mats = [m.requires_grad_() for m in mats]
    want = trace_sqrtm_many(mats, solver="eigh")
    got = trace_sqrtm_many(mats, solver="newton-schulz")
    for w, g in zip(want, got, strict=True):
        assert g.shape == w.shape
        torch.testing.assert_close(g, w, rtol=1e-4, atol=0)
    g_want = torch.autograd.grad(sum(t.sum() for t in want), mats)
    g_got = torch.autograd.grad(sum(t.sum() for t in got), mats)
    for w, g in zip(g_want, g_got, strict=True):
        torch.testing.assert_close(g, w, rtol=2e-3, atol=1e-5)


def test_rank_deficient_float32_matrix_stays_finite() -> None:
    # 32 channels, 8 positions: 24 zero eigenvalues, which float32 products leave slightly
    # negative; the unshifted iteration diverged to 1e32 there
    m = _spd(32, 2, 4, rank=8).float()
    m = (m @ torch.eye(32)).requires_grad_()
    got = trace_sqrtm(m, solver="newton-schulz")
    (grad,) = torch.autograd.grad(got.sum(), m)
    assert torch.isfinite(got).all() and torch.isfinite(grad).all()
    torch.testing.assert_close(got, trace_sqrtm(m.detach(), solver="eigh"), rtol=1e-2, atol=0)


def test_sqrt_solver_picks_newton_schulz_inside_its_block(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = sqrtm_module._newton_schulz

    def counting(*args: object) -> object:
        calls.append(1)
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(sqrtm_module, "_newton_schulz", counting)
    m = _spd(8, 1, 5)
    trace_sqrtm(m)
    assert not calls  # the default: eigh
    with sqrt_solver("newton-schulz"):
        trace_sqrtm_many([m, _spd(6, 1, 6)])
    assert calls == [1]  # one padded batch for both sizes
    trace_sqrtm(m)
    assert calls == [1]  # the block's choice ends with it
    with pytest.raises(ValueError, match="unknown square-root solver"), sqrt_solver("svd"):
        pass


def test_a_stylisation_with_newton_schulz_reaches_the_eigendecomposition_loss(lite0: object) -> None:
    photo = Image.fromarray((torch.rand(48, 64, 3, generator=torch.Generator().manual_seed(0)) * 255)
                            .to(torch.uint8).numpy())
    style = Image.fromarray((torch.rand(64, 64, 3, generator=torch.Generator().manual_seed(1)) * 255)
                            .to(torch.uint8).numpy())
    cfg = GatysConfig(size=64, iterations=25, multiscale=False, backbone="efficientnet-lite0")
    results = {}
    for solver in ("eigh", "newton-schulz"):
        with sqrt_solver(solver):
            results[solver] = Stylizer(style, cfg, backbone=lite0).stylize(photo)
    eigh, ns = results["eigh"].losses["total"], results["newton-schulz"].losses["total"]
    first = results["eigh"].history[0]["total"]
    assert eigh < 0.8 * first and abs(ns - eigh) / eigh < 0.05, (first, eigh, ns)


def test_graphs_only_where_they_can_run() -> None:
    cpu = torch.zeros(1, 3, 8, 8, requires_grad=True)
    objective = Objective.__new__(Objective)  # only its type is looked at
    assert not wants_graph(None, cpu, objective, "lbfgs", 100)  # auto: CUDA only
    assert not wants_graph(False, cpu, objective, "lbfgs", 100)
    with pytest.raises(ConfigError, match="cuda-graphs needs a CUDA device; this run is on cpu"):
        wants_graph(True, cpu, objective, "lbfgs", 100)
    assert MIN_GRAPHED_EVALUATIONS > 2


def test_cli_refuses_cuda_graphs_off_cuda(tmp_path: Path, shared_data: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "o.png"
    code = main(["stylize", str(shared_data / "faces" / "obama.jpg"), "--style", "starry_night", "-o", str(out),
                 "--size", "64", "--iterations", "2", "--coarse-iterations", "2", "--no-face-aware",
                 "--device", "cpu", "--cuda-graphs"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and not out.exists()
    assert err[-1] == "painterly: error: cuda-graphs needs a CUDA device; this run is on cpu"
