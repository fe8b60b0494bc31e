"""Start or join a Ray cluster, and decide where engines run (GPUs or CPU)."""

from __future__ import annotations

import os
import signal
import socket
import stat
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from orchestrator.config.groups import RayConfig
from orchestrator.errors import UserError

# Ray's memory monitor kills a task when the machine is short of memory and, by default,
# starts it again forever: a training job that does not fit would hang the run without an
# error. On a local cluster it fails after this many kills, named as killed for memory (its
# node fails; a re-run resumes it).
OOM_RETRIES = 3


def local_system_config() -> dict[str, Any]:
    """A local cluster's settings: a new dict each time, since ray.init adds its session's
    spilling folder to the one it is given (a second run in the process would spill there)."""
    return {"task_oom_retries": OOM_RETRIES}


# Ray's socket paths (<temp>/session_<date>_<pid>/sockets/plasma_store) must stay under the
# 107-byte Unix socket limit, so a run folder with a long path falls back to /tmp.
MAX_RAY_TEMP_LEN = 40


def ray_temp_dir(sweep_dir: Path) -> str:
    candidate = sweep_dir.resolve() / ".ray"
    if len(str(candidate)) <= MAX_RAY_TEMP_LEN:
        return str(candidate)
    return str(Path(tempfile.gettempdir()) / f"mosweep-ray-{os.getuid()}")


def _unreachable(address: str, why: str) -> UserError:
    return UserError(
        f"cannot reach a Ray cluster at ray.address={address!r} ({why}): start one with "
        "`ray start --head` or `ray up cluster.yaml`, or drop ray.address to run locally"
    )


def check_address(cfg: RayConfig) -> None:
    """Fail in seconds on an unreachable cluster (ray.init itself retries for minutes)."""
    if not cfg.address or cfg.address == "local":
        return
    from ray._private.services import canonicalize_bootstrap_address

    host_port: str | None = cfg.address.removeprefix("ray://")
    if not cfg.address.startswith("ray://"):
        try:
            host_port = canonicalize_bootstrap_address(cfg.address)
        except (ConnectionError, ValueError) as e:
            raise _unreachable(cfg.address, str(e).splitlines()[0][:100]) from None
    if not host_port:
        raise _unreachable(cfg.address, "no running cluster found")
    host, _, port = host_port.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=3).close()
    except (OSError, ValueError) as e:
        raise _unreachable(cfg.address, str(e)) from None


def connect(cfg: RayConfig, sweep_dir: Path) -> bool:
    """Connect the driver to Ray; True when this call started (and so owns) the cluster."""
    import ray

    if ray.is_initialized():  # a caller (a test, a notebook) already connected
        return False
    with _keep_handlers():
        return _init(cfg, sweep_dir)


SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def _keep_handlers() -> Iterator[None]:
    """The driver's SIGINT and SIGTERM handlers, put back after ray.init, which replaces
    SIGTERM's with sys.exit(15). The command line's own handlers (orchestrator/__main__.py:
    SIGTERM is Ctrl-C, so the unfinished shards are recorded) are set again."""
    before = {s: signal.getsignal(s) for s in SIGNALS}
    try:
        yield
    finally:
        if threading.current_thread() is threading.main_thread():
            _set(before)


def _set(handlers: dict[signal.Signals, Any]) -> None:
    for signum, handler in handlers.items():
        if callable(handler):
            signal.signal(signum, handler)


def shutdown() -> None:
    """ray.shutdown, keeping the driver's signal handlers throughout.

    Ray 2.60's driver shutdown stops its core worker, which sets SIGTERM's action back to
    the default below Python (Python still reports its handler), then spends about a second
    stopping Ray's processes: a SIGTERM then killed the driver at once (-15, not 143, and
    no failure record when it came during a stop). Ray stops on a thread of its own while
    this one sets the handlers again every millisecond; only signal.signal's thread (the
    main one) can."""
    import ray

    if threading.current_thread() is not threading.main_thread():
        ray.shutdown()
        return
    handlers = {s: signal.getsignal(s) for s in SIGNALS}
    failed: list[BaseException] = []

    def stop() -> None:
        try:
            ray.shutdown()
        except BaseException as e:  # raised again on the caller's thread
            failed.append(e)

    stopper = threading.Thread(target=stop, name="ray-shutdown")
    stopper.start()
    try:
        while stopper.is_alive():
            _set(handlers)
            stopper.join(0.001)
    finally:
        # A first signal during a normal end interrupts the loop: Ray still stops whole.
        stopper.join()
        _set(handlers)
    if failed:
        raise failed[0]


def _init(cfg: RayConfig, sweep_dir: Path) -> bool:
    import ray

    # Ray's token authentication stays on (Ray 2.60's default for a local cluster, which
    # makes its own token in ~/.ray/auth_token): anyone who can reach a Ray port could
    # otherwise run code in the cluster and read the driver's environment. RAY_AUTH_MODE is
    # left as the user set it.

    if cfg.address:
        try:
            ray.init(address=cfg.address, namespace=cfg.namespace, log_to_driver=True)
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise _unreachable(cfg.address, str(e).splitlines()[0][:100]) from None
        return True
    with _on_loopback(), _owner_only_files():
        ray.init(
            num_cpus=cfg.num_cpus,
            namespace=cfg.namespace,
            include_dashboard=False,
            _temp_dir=ray_temp_dir(sweep_dir),
            configure_logging=False,
            _system_config=local_system_config(),
        )
    _private_token()
    return True


@contextmanager
def _on_loopback() -> Iterator[None]:
    """A local cluster binds every port on loopback. Ray on Linux takes the node's address
    for 127.0.0.1 (ray.init's _node_ip_address is resolved away from loopback) and its
    servers then listen on all interfaces; it keeps loopback only where it runs no
    multi-node cluster, which Ray 2.60 reads from ray_constants.ENABLE_RAY_CLUSTER
    (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER, read once at import) each time it picks the node's
    address. So the flag is off while ray.init starts the node: the GCS, raylet, workers
    and agents all get --node-ip-address=127.0.0.1 (tests/faults/test_ray_ports.py checks
    what listens). A cluster of several machines joins with ray.address instead."""
    from ray._private import ray_constants

    flag = "ENABLE_RAY_CLUSTER"
    if not hasattr(ray_constants, flag):  # another Ray: its own choice (the test says so)
        yield
        return
    before = getattr(ray_constants, flag)
    setattr(ray_constants, flag, False)
    try:
        yield
    finally:
        setattr(ray_constants, flag, before)


@contextmanager
def _owner_only_files() -> Iterator[None]:
    """Files Ray makes while it starts (its token, session logs that may quote the
    environment) are readable by their owner only."""
    before = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(before)


def _private_token() -> None:
    """Ray writes ~/.ray/auth_token readable by everyone (0644), and a token from an earlier
    run keeps its mode: the token is the cluster's only lock, so it is made 0600. A link is
    left alone (its target is not ours to change)."""
    for name in {os.environ.get("RAY_AUTH_TOKEN_PATH"), str(Path.home() / ".ray/auth_token")}:
        if not name:
            continue
        path = Path(name)
        try:
            info = path.lstat()
        except OSError:
            continue
        if stat.S_ISREG(info.st_mode) and info.st_uid == os.getuid() and info.st_mode & 0o077:
            path.chmod(0o600)


def has_gpus() -> bool:
    import ray

    return float(ray.cluster_resources().get("GPU", 0)) > 0
