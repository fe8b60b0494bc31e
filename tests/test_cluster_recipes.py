"""The cluster recipes in clusters/ checked for what can be checked without Slurm or
Kubernetes: the Slurm script parses (and passes shellcheck where it is installed), the
RayJob manifest has the fields KubeRay requires, and the driver command inside each
composes and dry-runs."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml

from tests.conftest import REPO

SLURM = REPO / "clusters" / "slurm.sbatch"
KUBERAY = REPO / "clusters" / "kuberay-rayjob.yaml"


def dry_run(args: list[str], output_root: Path) -> None:
    """The driver's arguments with mode=dry: composes, checks and plans; runs nothing."""
    done = subprocess.run(
        [sys.executable, "-m", "orchestrator", *args, f"output_root={output_root}", "mode=dry"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "cells" in done.stdout


def test_the_slurm_script_parses_and_keeps_what_a_cluster_needs() -> None:
    assert subprocess.run(["bash", "-n", str(SLURM)]).returncode == 0
    if shutil.which("shellcheck"):
        lint = subprocess.run(["shellcheck", str(SLURM)], capture_output=True, text=True)
        assert lint.returncode == 0, lint.stdout
    text = SLURM.read_text()
    assert "#SBATCH --signal=B:TERM@" in text and "trap 'kill -TERM" in text  # clean end
    assert "export RAY_AUTH_MODE=token" in text and "--dashboard-host=127.0.0.1" in text
    assert "SLURM_GPUS_ON_NODE" in text and "SLURM_CPUS_PER_TASK" in text
    assert 'HF_HOME="${HF_HOME:-$MOSWEEP_OUTPUT' in text  # weights on the shared filesystem


def test_the_slurm_driver_command_dry_runs(tmp_path: Path) -> None:
    (line,) = [x for x in SLURM.read_text().splitlines() if "-m orchestrator" in x]
    words = shlex.split(line.rstrip(" &"))
    assert words[:3] == ["$python", "-m", "orchestrator"]
    args = [w for w in words[3:] if w != "$@"]
    address = args[0].replace("$head_ip:$port", "10.0.0.1:6379")
    assert address == "ray.address=10.0.0.1:6379" and args[1].startswith("output_root=")
    dry_run([address, "+sweep=gpu_models"], tmp_path)


def test_the_rayjob_manifest_has_kuberays_fields_and_its_driver_dry_runs(
    tmp_path: Path,
) -> None:
    job, claim = yaml.safe_load_all(KUBERAY.read_text())
    assert (job["apiVersion"], job["kind"]) == ("ray.io/v1", "RayJob")
    spec = job["spec"]
    cluster = spec["rayClusterSpec"]
    head = cluster["headGroupSpec"]["template"]["spec"]
    workers = cluster["workerGroupSpecs"]
    assert head["containers"][0]["image"] and "rayStartParams" in cluster["headGroupSpec"]
    assert all(w["groupName"] and w["template"]["spec"]["containers"] for w in workers)
    assert any(
        "nvidia.com/gpu" in w["template"]["spec"]["containers"][0]["resources"]["limits"]
        for w in workers
    )
    # Every pod mounts the one claim the manifest makes, where output_root points.
    assert (
        claim["kind"] == "PersistentVolumeClaim" and "ReadWriteMany" in claim["spec"]["accessModes"]
    )
    pods = [head, *(w["template"]["spec"] for w in workers)]
    for pod in pods:
        (volume,) = pod["volumes"]
        assert volume["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
        assert {"name": "results", "mountPath": "/results"} in pod["containers"][0]["volumeMounts"]
    assert spec["shutdownAfterJobFinishes"] is True
    command = re.search(r"python -m orchestrator (.*)'", spec["entrypoint"])
    assert command is not None
    args = shlex.split(command.group(1))
    assert "output_root=/results" in args and "ray.address=auto" in args
    dry_run([a for a in args if not a.startswith("output_root=")], tmp_path)


@pytest.mark.parametrize("recipe", [SLURM, KUBERAY])
def test_recipes_name_a_sweep_that_exists(recipe: Path) -> None:
    sweeps = re.findall(r"\+sweep=(\w+)", recipe.read_text())
    assert sweeps and all((REPO / "conf" / "sweep" / f"{s}.yaml").is_file() for s in sweeps)


SRUN = """#!/bin/bash
# srun on one machine: drop srun's own options, run the command here.
while [[ $# -gt 0 ]]; do
    case "$1" in
        -w|-N|-n) shift 2 ;;
        -*) shift ;;
        *) break ;;
    esac
done
exec "$@"
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_the_slurm_script_runs_a_sweep_and_resumes_with_srun_on_one_machine(
    tmp_path: Path,
) -> None:
    """The script as written, with `srun` and `scontrol` stand-ins that run each step on
    this machine: it starts a Ray head (token auth on), the driver runs the sweep on it
    into MOSWEEP_OUTPUT, and the job's Ray processes end with it; a second submission
    finds every shard done."""
    shims = tmp_path / "bin"
    shims.mkdir()
    (shims / "srun").write_text(SRUN)
    (shims / "scontrol").write_text("#!/bin/bash\necho node0\n")
    for shim in shims.iterdir():
        shim.chmod(0o755)
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "SLURM_"))},
        "PATH": f"{shims}:{os.environ['PATH']}",
        "SLURM_JOB_NODELIST": "node0",
        "SLURM_SUBMIT_DIR": str(REPO),
        "SLURM_CPUS_PER_TASK": "2",
        "SLURM_GPUS_ON_NODE": "0",
        "MOSWEEP_OUTPUT": str(tmp_path / "runs"),
        "MOSWEEP_PYTHON": sys.executable,
        "MOSWEEP_RAY_PORT": str(port),
    }
    command = ["bash", str(SLURM), "+sweep=tiny", "tracker=none", "sampling.max_tokens=16"]

    def submit() -> str:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
        return done.stdout

    assert "48 rows written in 12 shards, 0 failed" in submit()
    files = {p: p.stat().st_mtime_ns for p in (tmp_path / "runs" / "tiny").rglob("*.parquet")}
    assert len([p for p in files if "results" in p.parts]) == 12
    time.sleep(5)
    left = [
        p
        for p in psutil.process_iter(["cmdline"])
        if str(port) in " ".join(p.info["cmdline"] or [])
    ]
    assert not left, [p.info["cmdline"][:2] for p in left]  # the job's Ray ended with it
    again = submit()
    assert "0 rows written" in again or "nothing to run" in again, again[-1500:]
    assert {p: p.stat().st_mtime_ns for p in files} == files
