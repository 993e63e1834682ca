from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _seed_and_threads() -> None:
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED.is_dir():
        pytest.fail(f"test images not found at {SHARED} (CI places ../shared beside the checkout)")
    return SHARED


@pytest.fixture
def tiny_images(tmp_path: Path) -> tuple[Path, Path]:
    """A 48x40 content and a 40x40 style image, both with structure."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:40, 0:48]
    content = np.stack([xx * 5, yy * 6, (xx + yy) * 3], -1).clip(0, 255).astype(np.uint8)
    style = (rng.random((40, 40, 3)) * 255).astype(np.uint8)
    c, s = tmp_path / "content.png", tmp_path / "style.png"
    Image.fromarray(content).save(c)
    Image.fromarray(style).save(s)
    return c, s


@pytest.fixture(scope="session")
def lite0():
    from painterly.backbones import create_backbone

    return create_backbone("efficientnet-lite0")
