"""Shared fixtures: CPU by default, real components, nothing written outside the repo/tmp.

One local Ray cluster serves the whole session (starting one costs seconds); `run()` sees
it is already connected and reuses it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Before anything imports ray, vllm or wandb: keep their caches and sessions contained.
os.environ.setdefault("MOSWEEP_CACHE", str(REPO / ".cache" / "mosweep"))
os.environ["WANDB_MODE"] = "offline"
os.environ["WANDB_SILENT"] = "true"
os.environ["RAY_AUTH_MODE"] = "disabled"
os.environ.setdefault("VLLM_CACHE_ROOT", str(REPO / ".cache" / "vllm"))
os.environ["HF_HUB_OFFLINE"] = "1"

# How long a test's actors and tasks may take to hand their CPUs back (a killed engine's
# process exits in seconds).
LEFT_FREE_WAIT = 60.0


def start_local_ray() -> None:
    import ray

    from orchestrator.cluster import local_system_config

    temp = tempfile.mkdtemp(prefix="msray-", dir="/tmp")  # short: Unix socket path limit
    # log_to_driver=False: this process is the driver of every in-process run, and Ray's
    # own lines (its raylet warns every 10 s while the disk is over 95% full) would land in
    # the stderr a test reads as the command's output.
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        _temp_dir=temp,
        configure_logging=False,
        log_to_driver=False,
        _system_config=local_system_config(),
    )


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[None]:
    import ray

    start_local_ray()
    yield
    ray.shutdown()


@pytest.fixture(autouse=True)
def cluster_left_free(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test that leaves a task or actor holding the shared cluster's CPUs fails, and the
    cluster is started again: otherwise every later test's training would queue behind it
    until its timeout, far from the test that caused it."""
    yield
    if "ray_cluster" not in request.fixturenames:
        return
    import ray

    if not ray.is_initialized():
        return
    from tests.cluster_state import free_cpus, wait_for

    total = float(ray.cluster_resources().get("CPU", 0))
    if not wait_for(lambda: free_cpus() >= total, LEFT_FREE_WAIT):
        held = total - free_cpus()
        ray.shutdown()
        start_local_ray()
        pytest.fail(f"the test left {held:g} of {total:g} CPUs held in the cluster")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed test on the cluster says what the machine and the cluster held then."""
    report = yield
    on_cluster = "ray_cluster" in getattr(item, "fixturenames", ())
    if report.when == "call" and report.failed and on_cluster:
        from tests.cluster_state import snapshot

        report.sections.append(("the machine and the cluster at the failure", snapshot()))
    return report


def sweep_args(output_root: Path, *overrides: str, sweep: str = "tiny") -> list[str]:
    """A command line for a test sweep writing under `output_root`."""
    return [f"+sweep={sweep}", f"output_root={output_root}", *overrides]


@pytest.fixture(scope="session")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A real S3-compatible server on loopback (moto) with a bucket `sweeps`; its client
    environment."""
    from tests.s3_server import s3_server

    with s3_server(tmp_path_factory.mktemp("moto") / "moto.log") as env:
        yield env


@pytest.fixture
def bucket(s3: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An output_root in that bucket of this test's own, the environment set to reach it,
    and MOSWEEP_CACHE in the test's folder; no store watcher is left behind."""
    from jobs import durable

    for key, value in s3.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MOSWEEP_CACHE", str(tmp_path / "cache"))
    yield f"s3://sweeps/{tmp_path.name}"
    durable.WATCHERS.clear()
