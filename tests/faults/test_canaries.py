"""No credential is ever written: a sweep that generates on real Ray, judges through a
loopback endpoint and logs to W&B (offline), with canary values in every credential
variable, leaves none of them in the sweep folder, the W&B run folder or Ray's session
folder. A key given as a config override is refused before anything is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.errors import UserError
from orchestrator.run import run
from tests.orchestrator.test_judge_stage import SECRET, Judge, af_args, endpoint  # noqa: F401

CANARIES = {
    "HF_TOKEN": "hf_canary_4f1d",
    "HUGGING_FACE_HUB_TOKEN": "hf_canary_77aa",
    "WANDB_API_KEY": "wandb_canary_0b3c",
    "OPENAI_API_KEY": SECRET,  # the loopback judge's key (test_judge_stage's endpoint)
}
OVERRIDE = "sk-canary-override-9e2a"


def holding(folder: Path, secrets: list[str]) -> list[str]:
    """Files under `folder` that contain any of `secrets` (bytes, any file type)."""
    found = []
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            found += [f"{path}: {s}" for s in secrets if s.encode() in data]
    return found


def test_no_credential_reaches_any_file(
    tmp_path: Path,
    endpoint: type[Judge],  # noqa: F811 (test_judge_stage's fixture)
    ray_cluster: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import ray

    for name, value in CANARIES.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("WANDB_MODE", "offline")
    with pytest.raises(UserError, match="would put a credential in the config"):
        run(af_args(tmp_path, f"+judges.compliance.api_key={OVERRIDE}"))
    report = run(af_args(tmp_path, "tracker=wandb"))
    assert report.rows_written == 24 and endpoint.calls > 0  # generated and judged
    assert (report.sweep_dir / "wandb").is_dir()  # W&B's run folder is in the sweep folder
    session = Path(ray._private.worker.global_worker.node.get_session_dir_path())
    secrets = [*CANARIES.values(), OVERRIDE]
    assert holding(tmp_path, secrets) == []
    assert holding(session, secrets) == []


@pytest.mark.parametrize(
    "override",
    [
        "sweep.description=${oc.env:OPENAI_API_KEY}",
        "sweep.description=key ${env:OPENAI_API_KEY} here",  # Hydra's legacy resolver
        "+grid.sweep.description=[${oc.env:OPENAI_API_KEY}]",
    ],
)
def test_a_setting_that_reads_the_environment_is_refused_before_anything_is_written(
    override: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Any string setting (here the sweep's description, logged to W&B) could carry a key
    through an interpolation; it never resolves (was: the key in config.yaml and W&B)."""
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    with pytest.raises(UserError, match="reads the environment") as error:
        run(["+sweep=tiny", f"output_root={tmp_path}", "tracker=wandb", override])
    assert SECRET not in str(error.value) and "\n" not in str(error.value)
    assert holding(tmp_path, [SECRET]) == [] and not list(tmp_path.rglob("*.yaml"))
