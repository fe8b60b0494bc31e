"""The LoRA job on the tiny model: it learns, checkpoints, and resumes exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jobs import finetune
from jobs.finetune import IGNORE, LoraSettings, TrainSpec, batch_indices, lr_at, train_adapter
from orchestrator import models
from orchestrator.config.groups import ModelConfig

TINY = ModelConfig(name="tiny", source="tiny", path="tiny-llama-seed0", max_model_len=256)
EXAMPLES = [([1, 2, 3 + i % 5], [10 + i % 3, 11, 2]) for i in range(12)]


def spec(tmp_path: Path, steps: int = 10, device: str = "cpu") -> TrainSpec:
    return TrainSpec(
        base_model=models.prepare_model(TINY),
        examples=EXAMPLES,
        output=str(tmp_path / "adapter"),
        work=str(tmp_path / "work"),
        lora=LoraSettings(
            target_modules=["q_proj", "v_proj"],
            lr=1e-2,
            steps=steps,
            batch_size=4,
            checkpoint_every=4,
        ),
        device=device,
    )


def test_batches_depend_only_on_seed_and_step() -> None:
    assert batch_indices(12, 4, 0, 5) == batch_indices(12, 4, 0, 5)
    epoch = [i for step in range(3) for i in batch_indices(12, 4, 0, step)]
    assert sorted(epoch) == list(range(12))  # each epoch is a permutation


def test_training_lowers_the_loss_and_writes_a_complete_adapter(tmp_path: Path) -> None:
    report = train_adapter(spec(tmp_path, steps=30))
    assert report["losses"][-1] < report["losses"][0]
    adapter = tmp_path / "adapter"
    assert (adapter / "adapter_model.safetensors").is_file()
    assert json.loads((adapter / "training.json").read_text())["steps"] == 30
    assert not (tmp_path / "work").exists()  # checkpoints are removed once it is done


def test_interrupted_job_resumes_from_its_checkpoint_exactly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    straight = train_adapter(spec(tmp_path / "a"))

    def crash(*args: object) -> None:
        raise KeyboardInterrupt  # killed after the step-8 checkpoint, before finishing

    monkeypatch.setattr(finetune, "_finish", crash)
    with pytest.raises(KeyboardInterrupt):
        train_adapter(spec(tmp_path / "b"))
    assert (tmp_path / "b" / "work" / "checkpoint" / "state.pt").is_file()
    monkeypatch.undo()
    resumed = train_adapter(spec(tmp_path / "b"))
    assert resumed["resumed_at"] == 8
    assert resumed["losses"] == pytest.approx(straight["losses"], rel=1e-4)


@pytest.mark.gpu
def test_lora_job_trains_and_resumes_on_cuda(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same job on a GPU (pytest -m gpu on a GPU node)."""
    straight = train_adapter(spec(tmp_path / "a", device="cuda", steps=30))
    assert straight["losses"][-1] < straight["losses"][0]

    def crash(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(finetune, "_finish", crash)
    with pytest.raises(KeyboardInterrupt):
        train_adapter(spec(tmp_path / "b", device="cuda", steps=30))
    monkeypatch.undo()
    resumed = train_adapter(spec(tmp_path / "b", device="cuda", steps=30))
    assert resumed["resumed_at"] == 28
    assert resumed["losses"] == pytest.approx(straight["losses"], rel=1e-2)  # bf16
    assert (tmp_path / "b" / "adapter" / "adapter_model.safetensors").is_file()


def test_learning_rate_warms_up_then_follows_its_schedule() -> None:
    constant = LoraSettings(lr=1.0, steps=10)
    assert [lr_at(constant, s) for s in (0, 5, 9)] == [1.0, 1.0, 1.0]  # as before schedules
    linear = LoraSettings(lr=1.0, steps=10, warmup_steps=2, schedule="linear")
    assert lr_at(linear, 0) < lr_at(linear, 1) < lr_at(linear, 2) == 1.0
    assert lr_at(linear, 9) == pytest.approx(1 / 8)  # falls toward 0 at `steps`
    cosine = LoraSettings(lr=1.0, steps=10, schedule="cosine")
    assert lr_at(cosine, 0) == 1.0 and lr_at(cosine, 5) == pytest.approx(0.5)


def test_a_document_without_a_prompt_is_trained_on_every_token() -> None:
    batch = finetune._collate([([], [5, 6, 7]), ([4], [8])], pad_id=0)
    assert batch["labels"][0].tolist() == [5, 6, 7]  # language-model loss over the document
    assert batch["labels"][1].tolist() == [IGNORE, 8, IGNORE]  # prompt and padding masked


def test_cpu_training_is_fp32_without_checkpointing(tmp_path: Path) -> None:
    report = train_adapter(spec(tmp_path, steps=2))
    assert (report["dtype"], report["gradient_checkpointing"]) == ("torch.float32", False)


@pytest.mark.gpu
def test_cuda_training_is_bf16_with_gradient_checkpointing(tmp_path: Path) -> None:
    """An 8B model's fp32 weights alone need ~32 GB: on CUDA the base loads in bf16 and
    recomputes activations (pytest -m gpu on a GPU node)."""
    report = train_adapter(spec(tmp_path, device="cuda", steps=10))
    assert (report["dtype"], report["gradient_checkpointing"]) == ("torch.bfloat16", True)
    assert report["losses"][-1] < report["losses"][0]


class Tampered:
    """Pickled into a checkpoint, it would write a file when unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (Path.write_text, (str(self.marker), "ran"))  # type: ignore[return-value]


def test_a_tampered_checkpoint_is_refused_not_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    def crash(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(finetune, "_finish", crash)
    with pytest.raises(KeyboardInterrupt):
        train_adapter(spec(tmp_path))
    monkeypatch.undo()
    state = tmp_path / "work" / "checkpoint" / "state.pt"
    marker = tmp_path / "marker"
    torch.save({**torch.load(state), "losses": Tampered(marker)}, state)
    with pytest.raises(Exception, match="Weights only load failed"):
        train_adapter(spec(tmp_path))
    assert not marker.exists()
