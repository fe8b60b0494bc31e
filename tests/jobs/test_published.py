"""Training outputs of a sweep in a bucket, on machines that share no folder
(jobs/published.py): adapters published and fetched by content hash, checkpoints sent so a
retried job resumes on another machine. Against a real S3-compatible server on loopback."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobs.objstore import ObjectStore
from tests.orchestrator.test_mirror import keys


def test_a_published_adapter_is_fetched_once_per_machine_and_checked(
    bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jobs import published

    store = ObjectStore(f"{bucket}/s")
    trained = tmp_path / "trained"
    (trained / "step-000002").mkdir(parents=True)
    (trained / "step-000002" / "adapter_config.json").write_text('{"r": 8}')
    (trained / "training.json").write_text("{}")
    key = "artifacts/adapters/0123"
    with pytest.raises(FileNotFoundError, match="is not published"):
        published.fetch(store, key)  # files without their marker: a cut-short upload
    digest = published.publish(store, key, trained)
    monkeypatch.setenv("MOSWEEP_NODE_DIR", str(tmp_path / "node"))
    step = published.fetch(store, f"{key}/step-000002")  # an RL step: its job's folder
    assert step == tmp_path / "node" / "adapters" / digest / "step-000002"
    assert (step / "adapter_config.json").read_text() == '{"r": 8}'
    store.put_bytes(f"{key}/training.json", b"changed")  # not fetched again: keyed by digest
    assert published.fetch(store, key) == step.parent
    monkeypatch.setenv("MOSWEEP_NODE_DIR", str(tmp_path / "other-node"))
    with pytest.raises(OSError, match="does not match its .published.json"):
        published.fetch(store, key)
    assert not (tmp_path / "other-node" / "adapters" / digest).exists()


def test_a_training_job_resumes_on_another_machine_from_the_checkpoint_it_sent(
    bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A LoRA job killed after its step-8 checkpoint on machine A is retried on machine B,
    whose folder has nothing: it resumes at step 8 from the store, with the losses of a job
    never killed, and its checkpoints leave the store once its adapter is published."""
    from jobs import finetune, published
    from jobs.finetune import train_adapter
    from tests.jobs.test_finetune import spec

    straight = train_adapter(spec(tmp_path / "straight"))
    driver = tmp_path / "driver-copy"
    job = spec(driver)  # its paths are the driver's, as the driver sends them
    placement = published.Placement(f"{bucket}/s", str(driver))

    def crash(*args: object) -> None:
        raise KeyboardInterrupt  # killed after the step-8 checkpoint, before finishing

    monkeypatch.setenv("MOSWEEP_NODE_DIR", str(tmp_path / "machine-a"))
    with monkeypatch.context() as killed:
        killed.setattr(finetune, "_finish", crash)
        with pytest.raises(KeyboardInterrupt):
            published.train_here(train_adapter, placement, job)
    assert ObjectStore(f"{bucket}/s").get_bytes("work/latest.json") is not None
    monkeypatch.setenv("MOSWEEP_NODE_DIR", str(tmp_path / "machine-b"))
    resumed = published.train_here(train_adapter, placement, job)
    assert resumed["restored_from_store"] and resumed["resumed_at"] == 8
    assert resumed["losses"] == pytest.approx(straight["losses"], rel=1e-4)
    assert not driver.exists()  # nothing written in the driver's folder by the job
    on_store = keys(f"{bucket}/s")
    assert not [k for k in on_store if k.startswith("work/")]
    assert "adapter/.published.json" in on_store
