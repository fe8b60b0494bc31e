"""Links planted in a sweep folder (tar and rsync keep them) never let the tool write,
truncate, append to or delete a file outside it: every mode stops first with one line
naming the link, and the file it points at is left as it was. Fake engine: the folder's
files are what matters here."""

from __future__ import annotations

import contextlib
import io
import shutil
from pathlib import Path

import pytest

from analysis.__main__ import main as analysis_main
from orchestrator.__main__ import main
from orchestrator.errors import UserError
from orchestrator.events import EventLog
from orchestrator.lock import SweepLock
from orchestrator.run import run
from tests.conftest import sweep_args

FAKE = ("engine=fake", "tracker=none")


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory, ray_cluster: None) -> Path:
    """A finished tiny sweep with its report, copied by each test."""
    root = tmp_path_factory.mktemp("finished")
    assert run(sweep_args(root, *FAKE)).rows_written == 48
    assert (root / "tiny" / "report" / "report.html").is_file()
    return root


def outside(tmp_path: Path) -> dict[Path, bytes]:
    """A folder outside the sweep that a link will point into, with files of every suffix
    the report writes."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    for name in ("paper.png", "paper.svg", "notes.md", "data.csv", "index.html", "log.jsonl"):
        (folder / name).write_text(f"the user's own {name}\n")
    return {p: p.read_bytes() for p in folder.iterdir()}


def relink(link: Path, target: Path) -> None:
    """Put a link at `link` (to `target`, outside) where the tool wrote a file or folder; a
    results partition keeps its shards, moved to the target."""
    if link.is_dir():
        if target.is_dir():
            for shard in link.iterdir():
                shutil.move(shard, target / shard.name)
        shutil.rmtree(link)
    link.unlink(missing_ok=True)
    link.symlink_to(target)


def attempt(args: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        status = main(args)
    return status, err.getvalue()


# What used to happen through each link: where it is (in the sweep folder) -> where it
# points (in the user's folder).
PLANTS = {
    # a rebuild deleted the folder's own .png/.svg/.md/.csv/.html files
    "report folder": ("report", "."),
    # taking the lock truncated the file to 0 bytes
    "lock file": (".lock", "notes.md"),
    # events were appended to the file
    "event log": ("events.jsonl", "log.jsonl"),
    # the start of a run deleted the folder's `.*.tmp` files
    "results partition": ("results/model=tiny", "partition"),
}


@pytest.mark.parametrize("mode", ["run", "report", "judge", "status"])
@pytest.mark.parametrize("plant", list(PLANTS))
def test_a_link_in_the_sweep_folder_stops_every_mode_and_nothing_outside_changes(
    plant: str, mode: str, finished: Path, tmp_path: Path
) -> None:
    root = tmp_path / "runs"
    shutil.copytree(finished, root)
    mine = outside(tmp_path)
    (tmp_path / "elsewhere" / "partition").mkdir()
    stray = tmp_path / "elsewhere" / "partition" / ".keep.tmp"  # what a `*.tmp` sweep took
    stray.write_text("the user's temporary file\n")
    mine[stray] = stray.read_bytes()
    where, to = PLANTS[plant]
    link = root / "tiny" / where
    relink(link, (tmp_path / "elsewhere" / to).resolve())
    before = {p: p.read_bytes() for p in (tmp_path / "elsewhere").rglob("*") if p.is_file()}

    status, err = attempt([*sweep_args(root, *FAKE), f"mode={mode}"])

    assert status == 2, err
    assert err == (
        f"error: {link} is a symbolic link (to {link.readlink()}): mosweep never writes "
        "through links in a sweep folder; replace it with a real file or folder (or delete "
        "it) and re-run\n"
    )
    after = {p: p.read_bytes() for p in (tmp_path / "elsewhere").rglob("*") if p.is_file()}
    assert after == before and all(after[p] == content for p, content in mine.items())


def test_python_m_analysis_refuses_a_linked_report_folder(
    finished: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "runs"
    shutil.copytree(finished, root)
    mine = outside(tmp_path)
    relink(root / "tiny" / "report", tmp_path / "elsewhere")
    before = {p: p.read_bytes() for p in (tmp_path / "elsewhere").iterdir()}
    assert analysis_main([str(root / "tiny")]) == 2
    assert "report is a symbolic link" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in (tmp_path / "elsewhere").iterdir()} == before
    assert all(before[p] == content for p, content in mine.items())


def test_the_lock_and_the_event_log_never_open_through_a_link(tmp_path: Path) -> None:
    """Below the folder check, the files themselves open with O_NOFOLLOW: a link planted
    after the check (a race) still reaches nothing."""
    target = tmp_path / "precious.txt"
    target.write_text("keep me\n")
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    (sweep / ".lock").symlink_to(target)
    with pytest.raises(UserError, match="cannot write to"):
        SweepLock(sweep).acquire()
    (sweep / "events.jsonl").symlink_to(target)
    with pytest.raises(OSError, match="symbolic links"):
        EventLog(sweep / "events.jsonl")
    assert target.read_text() == "keep me\n"


def test_links_inside_wandb_and_ray_folders_are_theirs(finished: Path, tmp_path: Path) -> None:
    """W&B and Ray make links of their own in their folders; those do not stop a run."""
    root = tmp_path / "runs"
    shutil.copytree(finished, root)
    for folder in ("wandb", ".ray"):
        (root / "tiny" / folder).mkdir(exist_ok=True)
        (root / "tiny" / folder / "latest").symlink_to(tmp_path)
    status, err = attempt([*sweep_args(root, *FAKE), "mode=status"])
    assert status == 0, err
