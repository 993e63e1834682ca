from __future__ import annotations

import math

import pytest
import torch

from painterly.losses import (
    GramStatistic,
    WassersteinStatistic,
    content_loss,
    gram_loss,
    gram_matrix,
    total_variation,
    trace_sqrtm,
    trace_sqrtm_many,
    wasserstein_style_loss,
)
from painterly.losses.functional import mean_and_second_moment, sqrtm_psd


def test_gram_matrix_by_hand() -> None:
    # one image, 2 channels, 1x2 positions: f0 = [1, 2], f1 = [3, 4]
    f = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])
    expected = torch.tensor([[[1 + 4, 3 + 8], [3 + 8, 9 + 16]]]) / 2.0
    assert torch.allclose(gram_matrix(f), expected)


def test_masked_gram_uses_weighted_positions() -> None:
    f = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])
    mask = torch.tensor([[[[1.0, 0.0]]]])
    assert torch.allclose(gram_matrix(f, mask), torch.tensor([[[1.0, 3.0], [3.0, 9.0]]]))


def test_gram_loss_by_hand() -> None:
    f = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])
    target = torch.tensor([[[2.0, 5.0], [5.0, 12.0]]])
    g = torch.tensor([[2.5, 5.5], [5.5, 12.5]])
    diff = ((g - target[0]) ** 2).sum()
    assert gram_loss(f, target).item() == pytest.approx((diff / (target**2).sum()).item(), rel=1e-6)
    assert gram_loss(f, gram_matrix(f)).item() == pytest.approx(0.0, abs=1e-7)


def test_gram_loss_gradcheck_float64() -> None:
    f = torch.randn(1, 3, 4, 5, dtype=torch.float64, requires_grad=True)
    target = gram_matrix(torch.randn(1, 3, 4, 5, dtype=torch.float64))
    assert torch.autograd.gradcheck(lambda x: gram_loss(x, target), (f,))
    mask = torch.rand(1, 1, 4, 5, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda x: gram_loss(x, target, mask), (f,))


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("mask_batch", [None, 1, 2])
def test_moments_backward_gradcheck_and_autograd_reference(channels_last: bool, mask_batch: int | None) -> None:
    # the hand-written backward of mean_and_second_moment against gradcheck and against
    # autograd through the plain formula (values and gradients), masked (a mask at twice
    # the size, per image or shared by the batch) and not
    torch.manual_seed(0)
    f = torch.randn(2, 5, 7, 6, dtype=torch.float64)
    if channels_last:
        f = f.contiguous(memory_format=torch.channels_last)
    f.requires_grad_(True)
    mask = None if mask_batch is None else torch.rand(mask_batch, 1, 14, 12, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda x: mean_and_second_moment(x, mask), (f,))

    def reference(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        m = torch.ones_like(x[:, :1]) if mask is None else torch.nn.functional.interpolate(
            mask, size=x.shape[-2:], mode="bilinear", align_corners=False).expand(x.shape[0], 1, 7, 6)
        s = m.sum((-2, -1))
        flat, mf = x.flatten(2), m.flatten(2)
        return (x * m).sum((-2, -1)) / s, (flat * mf) @ flat.transpose(1, 2) / s.unsqueeze(-1)

    probe_mean, probe_srm = torch.randn(2, 5, dtype=torch.float64), torch.randn(2, 5, 5, dtype=torch.float64)

    def grad_of(moments: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        return torch.autograd.grad((moments[0] * probe_mean).sum() + (moments[1] * probe_srm).sum(), f)[0]

    ours, ref = mean_and_second_moment(f, mask), reference(f)
    assert torch.allclose(ours[0], ref[0]) and torch.allclose(ours[1], ref[1])
    grad = grad_of(ours)
    assert torch.allclose(grad, grad_of(ref))
    assert grad.is_contiguous(memory_format=torch.channels_last) == channels_last


def test_content_loss_by_hand_and_mask() -> None:
    target = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    feats = target + torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])
    # mean sq error 1/4, divided by mean square of target (30/4)
    assert content_loss(feats, target).item() == pytest.approx((1 / 4) / (30 / 4), rel=1e-6)
    zero_where_error = torch.tensor([[[[0.0, 1.0], [1.0, 1.0]]]])
    assert content_loss(feats, target, zero_where_error).item() == pytest.approx(0.0, abs=1e-7)


def test_total_variation_by_hand() -> None:
    img = torch.tensor([[[[0.0, 1.0], [0.0, 1.0]]]])
    # horizontal diffs: 1, 1 -> mean 1; vertical diffs 0, 0 -> mean 0
    assert total_variation(img).item() == pytest.approx(1.0)
    assert total_variation(torch.full((1, 3, 5, 5), 0.3)).item() == 0.0


def test_trace_sqrtm_matches_eigenvalues_and_gradcheck() -> None:
    a = torch.randn(4, 6, dtype=torch.float64)
    m = a @ a.T + 0.1 * torch.eye(4, dtype=torch.float64)
    expected = torch.linalg.eigvalsh(m).sqrt().sum()
    assert trace_sqrtm(m).item() == pytest.approx(expected.item(), rel=1e-10)
    m.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: trace_sqrtm(0.5 * (x + x.T)), (m,))
    s = sqrtm_psd(m.detach())
    assert torch.allclose(s @ s, m.detach(), atol=1e-10)


def test_batched_trace_sqrtm_equals_one_call_per_matrix() -> None:
    torch.manual_seed(1)
    mats = []
    for c, n in ((3, 5), (6, 2), (4, 9), (3, 7)):  # one pair of equal sizes; (6, 2) is rank-deficient
        a = torch.randn(2, c, n, dtype=torch.float64)
        mats.append((a @ a.transpose(1, 2)).requires_grad_(True))
    together = trace_sqrtm_many(mats)
    alone = [trace_sqrtm(m) for m in mats]
    for t, a in zip(together, alone, strict=True):
        assert t.shape == a.shape == (2,)
        assert torch.allclose(t, a, rtol=1e-9, atol=1e-9)
    weights = [torch.randn(2, dtype=torch.float64) for _ in mats]
    g1 = torch.autograd.grad(sum((w * t).sum() for w, t in zip(weights, together, strict=True)), mats)
    g2 = torch.autograd.grad(sum((w * t).sum() for w, t in zip(weights, alone, strict=True)), mats)
    for x, y in zip(g1, g2, strict=True):
        assert torch.allclose(x, y, rtol=1e-6, atol=1e-6)


def test_wasserstein_losses_of_many_layers_equal_per_layer_losses() -> None:
    stat = WassersteinStatistic()
    feats = [torch.rand(1, c, 6, 5, dtype=torch.float64) for c in (4, 8, 3)]
    targets = [stat.target([torch.rand(1, f.shape[1], 7, 7, dtype=torch.float64)], [1.0]) for f in feats]
    mask = torch.ones(1, 1, 6, 5, dtype=torch.float64)
    mask[..., :2] = 0
    items = [(f, t, mask if i == 1 else None) for i, (f, t) in enumerate(zip(feats, targets, strict=True))]
    together = stat.losses(items)
    for (f, t, m), value in zip(items, together, strict=True):
        assert value.item() == pytest.approx(stat.loss(f, t, m).item(), rel=1e-9)


def test_wasserstein_is_zero_on_itself_and_matches_1d_formula() -> None:
    f = torch.randn(1, 3, 8, 8, dtype=torch.float64)
    stat = WassersteinStatistic(eps=0.0)
    tgt = stat.target([f], [1.0])
    assert stat.loss(f, tgt).item() == pytest.approx(0.0, abs=1e-6)
    # 1 channel: W2^2 = (mu1-mu2)^2 + (s1-s2)^2, normalised by mu_t^2 + s_t^2
    x = torch.tensor([[[[1.0, 3.0]]]], dtype=torch.float64)  # mean 2, var 1
    y = torch.tensor([[[[0.0, 4.0]]]], dtype=torch.float64)  # mean 2, var 4
    t = stat.target([y], [1.0])
    expected = ((2 - 2) ** 2 + (1 - 2) ** 2) / (4 + 4)
    assert wasserstein_style_loss(x, t["mean"], t["cov"], t["cov_sqrt"], eps=0.0).item() == pytest.approx(expected)


def test_blending_statistics_is_linear() -> None:
    a, b = torch.randn(1, 4, 6, 6), torch.randn(1, 4, 6, 6)
    g = GramStatistic().target([a, b], [0.25, 0.75])["gram"]
    assert torch.allclose(g, 0.25 * gram_matrix(a) + 0.75 * gram_matrix(b), atol=1e-6)
    w = WassersteinStatistic().target([a, b], [0.25, 0.75])
    assert torch.allclose(w["mean"], 0.25 * a.mean((-2, -1)) + 0.75 * b.mean((-2, -1)), atol=1e-6)


def test_losses_do_not_grow_with_image_size() -> None:
    torch.manual_seed(0)
    small = torch.rand(1, 8, 16, 16)
    large = small.repeat_interleave(4, -1).repeat_interleave(4, -2)
    target = gram_matrix(torch.rand(1, 8, 16, 16))
    assert math.isclose(gram_loss(small, target).item(), gram_loss(large, target).item(), rel_tol=1e-4)


def _objective_with_masks(lite0, content: torch.Tensor, style: torch.Tensor):
    from painterly.losses import LossWeights, Objective, SpatialControl, StyleRegion
    from painterly.losses.statistics import get_statistic

    layers = ("stem", "block2")
    with torch.no_grad():
        feats = lite0(style, layers)
    stat = get_statistic("wasserstein")
    targets = {k: stat.target([v], [1.0]) for k, v in feats.items()}
    face = torch.zeros(1, 1, 40, 48)
    face[..., 10:30, 12:36] = 1.0
    spatial = SpatialControl(content_weight_map=1 + 3 * face,
                             style_regions=[StyleRegion(face, 0.5), StyleRegion(1 - face, 1.0)])
    return Objective(lite0, targets, LossWeights(), content_layers=("block2",), style_layers=layers,
                     layer_weights=(0.5, 0.5), content=content, spatial=spatial,
                     region_targets=[targets, targets])


def test_objective_resizes_each_mask_once_per_size(lite0, monkeypatch) -> None:
    import painterly.losses.objective as objective_module

    calls: list[tuple[int, int]] = []
    real = objective_module.fit_mask

    def counting(mask, features):
        calls.append(tuple(features.shape[-2:]))
        return real(mask, features)

    monkeypatch.setattr(objective_module, "fit_mask", counting)
    content, style = torch.rand(1, 3, 40, 48), torch.rand(1, 3, 32, 32)
    objective = _objective_with_masks(lite0, content, style)
    image = torch.rand(1, 3, 40, 48, requires_grad=True)
    first, _ = objective(image)
    (g1,) = torch.autograd.grad(first, image)
    n = len(calls)
    assert n == 1 + 2 * 2  # the weight map at the content layer, two regions at two style layers
    second, _ = objective(image)
    (g2,) = torch.autograd.grad(second, image)
    assert len(calls) == n  # the second evaluation reuses the resized masks
    assert torch.equal(first, second) and torch.equal(g1, g2)
    # against masks resized anew: a fresh objective gives the same loss
    fresh = _objective_with_masks(lite0, content, style)
    assert torch.allclose(fresh(image)[0], first)
    before = len(calls)
    objective.set_content(torch.rand(1, 3, 40, 48))
    objective(image)
    assert len(calls) == before + n  # new content (maybe a new size): resized again


@pytest.mark.parametrize("channels_last", [False, True])
def test_moments_of_one_image_under_several_masks(channels_last: bool) -> None:
    # one image, R masks (the regions of a portrait): each mask's moments, as one call
    # per mask gives them, and the gradient of their sum, in the features' layout
    torch.manual_seed(0)
    f = torch.randn(1, 5, 7, 6, dtype=torch.float64)
    if channels_last:
        f = f.contiguous(memory_format=torch.channels_last)
    f.requires_grad_(True)
    masks = torch.rand(3, 1, 7, 6, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda x: mean_and_second_moment(x, masks), (f,))
    ours = mean_and_second_moment(f, masks)
    each = [mean_and_second_moment(f, masks[i : i + 1]) for i in range(3)]
    assert ours[0].shape == (3, 5) and ours[1].shape == (3, 5, 5)
    assert torch.allclose(ours[0], torch.cat([m for m, _ in each]))
    assert torch.allclose(ours[1], torch.cat([s for _, s in each]))
    pm, ps = torch.randn(3, 5, dtype=torch.float64), torch.randn(3, 5, 5, dtype=torch.float64)
    (grad,) = torch.autograd.grad((ours[0] * pm).sum() + (ours[1] * ps).sum(), f)
    (want,) = torch.autograd.grad(sum((m * pm[i]).sum() + (s * ps[i]).sum() for i, (m, s) in enumerate(each)), f)
    assert torch.allclose(grad, want)
    assert grad.is_contiguous(memory_format=torch.channels_last) == channels_last


@pytest.mark.parametrize("statistic", ["gram", "wasserstein"])
def test_objective_stacks_regions_with_the_same_loss(lite0, statistic: str) -> None:
    # the regions of one image in one item per layer (masks and targets stacked) give
    # the loss of one item per layer and region, with the regions' own weights
    from painterly.losses import LossWeights, Objective, SpatialControl, StyleRegion
    from painterly.losses.statistics import get_statistic

    layers = ("stem", "block2", "block4")
    stat = get_statistic(statistic)
    with torch.no_grad():
        feats = lite0(torch.rand(1, 3, 48, 48), layers)
    a = {k: stat.target([v], [1.0]) for k, v in feats.items()}
    b = {k: stat.target([0.7 * v], [1.0]) for k, v in feats.items()}
    face = torch.zeros(1, 1, 40, 48)
    face[..., 8:28, 12:36] = 1.0
    regions = [StyleRegion(face, 1.7), StyleRegion(1 - face, 1.0), StyleRegion(face, 0.0)]
    objective = Objective(lite0, a, LossWeights(statistic=statistic), content_layers=("block2",), style_layers=layers,
                          layer_weights=(0.5, 0.3, 0.2), content=torch.rand(1, 3, 40, 48),
                          spatial=SpatialControl(style_regions=regions), region_targets=[b, a, b])
    image = torch.rand(1, 3, 40, 48)
    with torch.no_grad():
        f = lite0(objective._padded(image), objective.layers)
    f = {k: v.requires_grad_(True) for k, v in f.items()}
    zero = torch.zeros(())
    stacked, per_region = objective._region_style(f, zero), objective._style(f, zero)
    assert torch.allclose(stacked, per_region, rtol=1e-5)
    if statistic == "gram":  # the Wasserstein gradient amplifies float32 rounding near repeated eigenvalues
        for g1, g2 in zip(torch.autograd.grad(stacked, list(f.values())),
                          torch.autograd.grad(per_region, list(f.values())), strict=True):
            assert torch.allclose(g1, g2, rtol=1e-4, atol=1e-9)
    _, terms = objective(image)  # the call itself takes the stacked path
    assert torch.allclose(terms["style"], stacked, rtol=1e-5)
