"""The same work on a CUDA device as on the CPU. Run on a machine with a GPU:

    pytest -m gpu

Each test compares the GPU result with the CPU one (or checks that the GPU run
learns), so a device-specific bug – a tensor left on the CPU, a dtype mismatch, a
kernel that differs – fails here rather than in a user's hands.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from painterly import AdaINStylizer, FastStylizer, FastTrainConfig, GatysConfig, Stylizer, train_transformer
from painterly.cli.main import main
from painterly.device import resolve_device
from painterly.faces.detection import FaceDetector, box_iou
from painterly.image import load_image, resize_long_side

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (run with -m gpu on a GPU machine)"),
]


def _array(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.float32) / 255


def test_auto_device_is_cuda() -> None:
    assert resolve_device("auto").type == "cuda"


def test_gatys_on_gpu_reaches_the_cpu_loss(shared_data: Path) -> None:
    content = resize_long_side(load_image(shared_data / "faces" / "obama.jpg"), 96)
    style = shared_data / "styles" / "starry_night.jpg"
    results = {}
    for device in ("cpu", "cuda"):
        cfg = GatysConfig(size=96, iterations=40, multiscale=False, backbone="efficientnet-lite0", device=device)
        res = Stylizer(style, cfg).stylize(content)
        assert res.tensor.device.type == "cpu"
        first = res.history[0]["total"]
        assert res.losses["total"] < 0.7 * first  # the GPU run optimises, not just runs
        results[device] = res
    cpu, gpu = results["cpu"].losses["total"], results["cuda"].losses["total"]
    assert abs(gpu - cpu) / cpu < 0.1, (cpu, gpu)


@pytest.mark.parametrize("kind", ["fast", "adain"])
def test_feed_forward_gpu_output_matches_cpu(shared_data: Path, kind: str) -> None:
    photo = resize_long_side(load_image(shared_data / "faces" / "obama.jpg"), 256)
    outs = []
    for device in ("cpu", "cuda"):
        if kind == "fast":
            out = FastStylizer("starry_night", device=device).stylize(photo, face_pass=False)
        else:
            out = AdaINStylizer("adain", device=device).stylize(photo, "the_scream")
        outs.append(_array(out))
    diff = np.abs(outs[0] - outs[1])
    assert outs[0].shape == outs[1].shape
    assert diff.mean() < 2 / 255 and np.quantile(diff, 0.999) < 16 / 255, (diff.mean(), diff.max())


def test_face_pass_on_gpu(shared_data: Path) -> None:
    photo = resize_long_side(load_image(shared_data / "faces" / "obama3.jpg"), 512)
    net = FastStylizer("the_scream", device="cuda")
    with_pass, without = _array(net.stylize(photo)), _array(net.stylize(photo, face_pass=False))
    assert np.abs(with_pass - without).max() > 0.1  # the face was re-stylised on the GPU


def test_mtcnn_on_gpu_finds_the_same_faces(shared_data: Path) -> None:
    image = load_image(shared_data / "faces" / "two_people.jpg")
    found = {d: FaceDetector(device=d)(image) for d in ("cpu", "cuda")}
    assert len(found["cpu"]) == len(found["cuda"]) == 2
    for a, b in zip(sorted(found["cpu"], key=lambda f: f.box[0]), sorted(found["cuda"], key=lambda f: f.box[0]),
                    strict=True):
        iou = box_iou(torch.tensor([a.box]), torch.tensor([b.box]))
        assert float(iou) > 0.95
        assert abs(a.score - b.score) < 1e-3


def test_training_on_gpu_lowers_the_loss(tmp_path: Path) -> None:
    content = tmp_path / "content"
    content.mkdir()
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:80, 0:96]
    for i in range(3):
        pic = np.stack([np.sin(xx / (3 + i)), np.cos(yy / (4 + i)), np.sin((xx + yy) / 7)], -1) * 100 + 128
        Image.fromarray((pic + rng.normal(0, 10, pic.shape)).clip(0, 255).astype(np.uint8)).save(content / f"{i}.png")
    style = tmp_path / "style.png"
    Image.fromarray((rng.random((64, 64, 3)) * 255).astype(np.uint8)).save(style)
    cfg = FastTrainConfig(styles=(str(style),), steps=40, lr=1e-2, batch_size=2, crop_size=64, style_size=64,
                          checkpoint_every=20, backbone="efficientnet-lite0", device="cuda",
                          width=8, downsamples=2, res_blocks=1)
    res = train_transformer(content, cfg, tmp_path / "m.pt")
    losses = [h["total"] for h in res.history]
    assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5])
    out = FastStylizer(res.path, device="cpu").stylize(Image.open(content / "0.png"), face_pass=False)
    assert out.size == (96, 80)


def test_cli_runs_on_cuda(shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.png"
    code = main(["stylize", str(shared_data / "faces" / "obama.jpg"), "--style", "starry_night", "--size", "128",
                 "--iterations", "10", "--coarse-iterations", "10", "--device", "cuda", "-o", str(out)])
    assert code == 0 and Image.open(out).size[0] <= 128
    fast_out = tmp_path / "fast.png"
    assert main(["fast", str(shared_data / "faces" / "obama.jpg"), "--model", "shipwreck", "--device", "cuda",
                 "-o", str(fast_out)]) == 0
    assert Image.open(fast_out).size == load_image(shared_data / "faces" / "obama.jpg").size


def test_backbone_runs_nchw_on_gpu_and_matches_cpu() -> None:
    from painterly import create_backbone

    net = create_backbone("efficientnet-lite0")
    x = torch.rand(1, 3, 72, 88)
    layers = ["stem", "block2", "block7"]
    cpu = net(x, layers)
    gpu = net.to("cuda")(x.cuda(), layers)
    conv = next(p for p in net.parameters() if p.dim() == 4)
    assert conv.is_contiguous()  # NCHW on the GPU: channels-last made cuDNN compile per image size
    for k in layers:  # cuDNN convolutions use TF32 on Hopper: compare relative norms, not elements
        err = float((gpu[k].cpu() - cpu[k]).norm() / cpu[k].norm())
        assert err < 2e-2, (k, err)
    again = net.to("cpu")(x, layers)
    assert next(p for p in net.parameters() if p.dim() == 4).is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(again["block7"], cpu["block7"])


def test_graphed_evaluation_equals_the_eager_one_and_follows_the_image(shared_data: Path) -> None:
    from painterly.image import pil_to_tensor
    from painterly.losses.sqrtm import sqrt_solver
    from painterly.methods.graphed import GraphedEvaluation

    cfg = GatysConfig(size=128, backbone="efficientnet-lite0", device="cuda")
    st = Stylizer(shared_data / "styles" / "starry_night.jpg", cfg)
    content = pil_to_tensor(resize_long_side(load_image(shared_data / "faces" / "obama.jpg"), 128), "cuda")
    objective = st.objective(content)
    x = content.clone().requires_grad_(True)
    graphed = GraphedEvaluation(objective, x)
    for step in range(3):
        with torch.no_grad():
            x.add_(0.02 * torch.randn_like(x))  # in place, as L-BFGS moves it
        total, values = graphed()
        got, grad = values.tolist(), x.grad.clone()
        eager_x = x.detach().clone().requires_grad_(True)
        with sqrt_solver("newton-schulz"):
            want_total, terms = objective(eager_x)
        want_total.backward()
        assert got[0] == pytest.approx(want_total.item(), rel=1e-4), step
        assert float(total) == pytest.approx(got[0])
        assert graphed.names == list(terms)
        assert float((grad - eager_x.grad).norm() / eager_x.grad.norm()) < 1e-3


def test_lbfgs_with_cuda_graphs_reaches_the_eager_loss(shared_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from painterly.methods import graphed as graphed_module

    made = []
    real = graphed_module.GraphedEvaluation

    def counting(*args: object, **kwargs: object) -> object:
        made.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(graphed_module, "GraphedEvaluation", counting)
    content = resize_long_side(load_image(shared_data / "faces" / "obama.jpg"), 256)
    losses = {}
    for graphs in (False, True):
        cfg = GatysConfig(size=256, backbone="efficientnet-lite0", device="cuda", cuda_graphs=graphs,
                          coarse_iterations=40, iterations=30)
        res = Stylizer(shared_data / "styles" / "starry_night.jpg", cfg).stylize(content)
        losses[graphs] = res.losses["total"]
        assert res.steps == 70
    assert len(made) == 2  # one capture per scale, graphed run only
    assert abs(losses[True] - losses[False]) / losses[False] < 0.05, losses
