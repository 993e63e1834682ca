#!/usr/bin/env bash
# On a lent GPU machine (see scripts/gpu_bundle.sh): the GPU tests, then the Gatys timings
# with CUDA graphs on and off. Logs go to $OUT (or out/gpu). One run, about 5-8 minutes.
set -uo pipefail
OUT=${OUT:-out/gpu}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .gpu/whl/*.whl \
  || exit 1
cp -r .gpu/site/* /tmp/site/
export PYTHONPATH="$PWD/src:/tmp/site" PYTHONUNBUFFERED=1
[ -e ../shared/data ] || { mkdir -p ../shared && cp -r .gpu/data ../shared/data; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())" | tee -a "$OUT/gpu.txt"
timeout 240 python3 -m pytest -q -m gpu -p no:cacheprovider tests/test_gpu.py 2>&1 | tee "$OUT/pytest_gpu.log"
timeout 300 python3 benchmarks/gatys.py --device cuda --backbones efficientnet-lite0,vgg19 --steps 200 \
  --newton-schulz 2>&1 | tee "$OUT/gatys_cuda.log"
