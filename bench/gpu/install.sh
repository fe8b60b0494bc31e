#!/usr/bin/env bash
# Install the wheels bench/gpu/wheels.sh fetched, on a GPU node with no package index:
#
#     bash bench/gpu/install.sh /tmp/gpu-wheels /tmp/gpu-site
#     export PYTHONPATH=/tmp/gpu-site:$PWD
#
# A folder that came over in pieces (`tar c FOLDER | split -b 60M - gpu-wheels.tar.part-`,
# where a transfer limits a file's size) is joined first: pass the pieces' folder.
# Every wheel is checked against SHA256SUMS, then installed with --no-deps into a folder
# of its own, beside the image's torch, which stays as it is. PYTHON: the interpreter that
# holds torch (python3 by default).
set -euo pipefail
python=${PYTHON:-python3}
src=${1:?usage: install.sh WHEELS TARGET}
target=${2:?usage: install.sh WHEELS TARGET}
if compgen -G "$src/*.tar.part-*" >/dev/null; then
    joined=$(mktemp -d)
    cat "$src"/*.tar.part-* | tar x -C "$joined"
    src=$(find "$joined" -name SHA256SUMS -printf '%h\n' | head -n 1)
fi
(cd "$src" && sha256sum --quiet -c SHA256SUMS)
"$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
    --target "$target" "$src"/*.whl
"$python" - "$target" <<'PY'
import sys

sys.path.insert(0, sys.argv[1])
import torch
import vllm

print(f"vllm {vllm.__version__}, torch {torch.__version__}, CUDA {torch.cuda.is_available()}")
PY
