from __future__ import annotations

from pathlib import Path

import pytest
import torch

from painterly.backbones import VGG19, create_backbone, list_backbones, resolve_backbone_name
from painterly.backbones.vgg import vgg19_layer_names
from painterly.errors import ConfigError, WeightsUnavailableError
from painterly.image import load_image, pil_to_tensor, resize_long_side


def test_registry_lists_auto_and_both_backbones() -> None:
    assert {"auto", "vgg19", "efficientnet-lite0"} <= set(list_backbones())
    with pytest.raises(ConfigError, match="unknown backbone"):
        create_backbone("resnet9000")


def test_vgg_layer_names_follow_the_paper() -> None:
    names = vgg19_layer_names()
    assert names[:5] == ("conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1")
    assert names[-1] == "pool5" and len(names) == 37
    assert names.index("relu4_2") == 22  # the content layer of Gatys et al. is features.22


def test_vgg_loads_torchvision_state_dict_from_file(tmp_path: Path) -> None:
    src = VGG19()
    sd = {k: torch.randn_like(v) for k, v in src.state_dict().items()}
    assert "features.0.weight" in sd and "features.34.bias" in sd
    sd["classifier.0.weight"] = torch.randn(8, 8)  # torchvision files carry the classifier too
    path = tmp_path / "vgg19.pth"
    torch.save(sd, path)
    model = create_backbone("vgg19", weights=path)
    assert torch.equal(model.state_dict()["features.0.weight"], sd["features.0.weight"])
    assert all(not p.requires_grad for p in model.parameters())
    x = torch.rand(1, 3, 32, 32)
    out = model(x, ["relu1_1", "relu3_1"])
    assert out["relu1_1"].shape == (1, 64, 32, 32) and out["relu3_1"].shape == (1, 256, 8, 8)


def test_vgg_auto_prefers_weights_on_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    assert resolve_backbone_name("auto").name == "efficientnet-lite0"
    cache = tmp_path / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    torch.save(VGG19().state_dict(), cache / "vgg19-dcbb9e9d.pth")
    choice = resolve_backbone_name("auto")
    assert choice.name == "vgg19" and str(cache) in choice.reason


def test_vgg_missing_weights_offline_names_file_cache_and_alternative(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(WeightsUnavailableError) as info:
        create_backbone("vgg19", download=False)
    msg = str(info.value)
    assert "vgg19-dcbb9e9d.pth" in msg and str(tmp_path) in msg and "efficientnet-lite0" in msg


def test_forward_stops_at_deepest_requested_layer(lite0) -> None:
    calls: list[int] = []
    hooks = [b.register_forward_hook(lambda *_, i=i: calls.append(i)) for i, b in enumerate(lite0._blocks)]
    try:
        lite0(torch.rand(1, 3, 64, 64), ["block4"])
    finally:
        for h in hooks:
            h.remove()
    assert calls == [0, 1, 2, 3, 4]


def test_efficientnet_lite0_bundled_weights_classify_a_bridge(lite0, shared_data: Path) -> None:
    # A real-weights check of key layout, padding, normalisation and BN folding:
    # ImageNet class 839 is "suspension bridge".
    img = resize_long_side(load_image(shared_data / "content" / "golden_gate.jpg"), 256)
    logits = lite0.classify(pil_to_tensor(img))
    assert 839 in logits.topk(3).indices[0].tolist()


def test_efficientnet_taps_have_expected_strides(lite0) -> None:
    out = lite0(torch.rand(1, 3, 64, 96), ["stem", "block2", "block4", "block7"])
    assert out["stem"].shape == (1, 32, 32, 48)
    assert out["block2"].shape == (1, 24, 16, 24)
    assert out["block4"].shape == (1, 40, 8, 12)
    assert out["block7"].shape == (1, 80, 4, 6)


@pytest.mark.parametrize("size", [(8, 10), (9, 11), (9, 10), (17, 17)])
@pytest.mark.parametrize("stride", [1, 2])
def test_same_padding_matches_tensorflow_on_even_and_odd_sides(size: tuple[int, int], stride: int) -> None:
    # TF "SAME": total padding max((ceil(n / s) - 1) s + k - n, 0), the extra pixel at the
    # bottom/right; the convolution pads by itself where that is symmetric
    from painterly.backbones.efficientnet import _SameConv2d

    torch.manual_seed(0)
    for k in (3, 5):
        conv = _SameConv2d(4, 4, k, stride=stride, groups=4, bias=False).double()
        x = torch.randn(1, 4, *size, dtype=torch.float64)
        pads = [max((-(-n // stride) - 1) * stride + k - n, 0) for n in size]
        ref = torch.nn.functional.conv2d(
            torch.nn.functional.pad(x, [pads[1] // 2, pads[1] - pads[1] // 2, pads[0] // 2, pads[0] - pads[0] // 2]),
            conv.weight, None, stride, 0, 1, 4)
        out = conv(x)
        assert out.shape[-2:] == tuple(-(-n // stride) for n in size)
        assert torch.allclose(out, ref)
