"""bench/gpu/install.sh, run here on CPU: the GPU node's offline install of the wheels
bench/gpu/wheels.sh fetched, joined from pieces, checked against SHA256SUMS, installed
with --no-deps into a folder of its own (the node's torch left as it is)."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import REPO

INSTALL = REPO / "bench" / "gpu" / "install.sh"


def wheel(folder: Path) -> Path:
    """A pure-Python wheel of one module, `gpu_probe`, that says it is there."""
    files = {
        "gpu_probe.py": "READY = True\n",
        "gpu_probe-0.1.dist-info/METADATA": "Metadata-Version: 2.1\nName: gpu-probe\nVersion: 0.1\n",
        "gpu_probe-0.1.dist-info/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{name},sha256={digest.decode()},{len(text.encode())}")
    record.append("gpu_probe-0.1.dist-info/RECORD,,")
    files["gpu_probe-0.1.dist-info/RECORD"] = "\n".join(record) + "\n"
    path = folder / "gpu_probe-0.1-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
    return path


def pieces(wheels: Path, out: Path) -> None:
    """The folder as the README carries it: `tar c | split`, in 1 KB pieces here."""
    out.mkdir()
    tar = subprocess.run(
        ["tar", "c", "-C", str(wheels.parent), wheels.name], check=True, capture_output=True
    )
    subprocess.run(
        ["split", "-b", "1K", "-", str(out / f"{wheels.name}.tar.part-")],
        input=tar.stdout,
        check=True,
    )


def install(source: Path, target: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(INSTALL), str(source), str(target)],
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_install_joins_the_pieces_checks_them_and_installs_beside_torch(tmp_path: Path) -> None:
    wheels = tmp_path / "gpu-wheels"
    wheels.mkdir()
    wheel(wheels)
    subprocess.run(
        "sha256sum ./*.whl > SHA256SUMS", shell=True, cwd=wheels, check=True
    )  # as wheels.sh writes it
    pieces(wheels, tmp_path / "pieces")
    assert len(list((tmp_path / "pieces").iterdir())) > 1
    done = install(tmp_path / "pieces", tmp_path / "site")
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "site" / "gpu_probe.py").is_file()
    assert "vllm " in done.stdout and "torch " in done.stdout  # the node's check ran

    # a wheel that changed on the way is refused before anything is installed
    with zipfile.ZipFile(next(wheels.glob("*.whl")), "a") as z:
        z.writestr("extra.txt", "changed")
    done = install(wheels, tmp_path / "other-site")
    assert done.returncode != 0 and "FAILED" in done.stdout + done.stderr
    assert not (tmp_path / "other-site").exists()
