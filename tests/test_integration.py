from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from painterly import GatysConfig, Stylizer, create_backbone
from painterly.image import load_image, pil_to_tensor, resize_long_side


def test_efficientnet_stylises_shared_images_at_96px(shared_data: Path, lite0) -> None:
    content = shared_data / "content" / "tubingen.jpg"
    style = shared_data / "styles" / "starry_night.jpg"
    st = Stylizer(style, GatysConfig(size=96, iterations=30, coarse_iterations=20, min_size=48), backbone=lite0)
    result = st.stylize(content)
    assert result.image.size == (96, 72)
    # the output's style loss against the painting is far below the photo's own
    photo = pil_to_tensor(resize_long_side(load_image(content), 96))
    _, photo_terms = st.objective(photo)(photo)
    assert result.losses["style"] < 0.5 * float(photo_terms["style"])
    # and it still looks like the photo more than like the painting
    assert result.losses["content"] < 1.0


@pytest.mark.vgg19
def test_real_vgg19_weights_stylise(shared_data: Path) -> None:
    path = os.environ.get("PAINTERLY_VGG19_WEIGHTS")
    if not path:
        pytest.fail("set PAINTERLY_VGG19_WEIGHTS to torchvision's vgg19-dcbb9e9d.pth to run the vgg19 tests")
    backbone = create_backbone("vgg19", weights=path)
    st = Stylizer(shared_data / "styles" / "starry_night.jpg", GatysConfig(size=64, iterations=20, coarse_iterations=0,
                                                                           multiscale=False), backbone=backbone)
    result = st.stylize(shared_data / "content" / "tubingen.jpg")
    totals = [h["total"] for h in result.history]
    assert totals[-1] < 0.5 * totals[0]
    assert torch.isfinite(result.tensor).all()
