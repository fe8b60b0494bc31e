"""The command line: turns arguments into a call of `run` and bad input into one line."""

from __future__ import annotations

import errno
import os
import signal
import sys
from types import FrameType

from orchestrator.cli import Command, parse
from orchestrator.errors import NotWritten, UserError

# A disk that filled up or turned read-only mid-run: one line, not a traceback.
DISK_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EFBIG)


class Terminated(KeyboardInterrupt):
    """SIGTERM (what a cluster scheduler sends before it kills a job), handled like Ctrl-C:
    every `finally` runs, so the failure list, event log and W&B run are brought up to date
    and engines stopped before the process ends."""


# Every SIGINT and SIGTERM, in order: Ray's blocking calls turn any KeyboardInterrupt
# raised while they wait (Terminated included) into a plain one, so the type alone may be
# lost, and the first signal decides the exit code.
_SIGNALLED: list[int] = []


def _stop(signum: int, frame: FrameType | None) -> None:
    """The first signal stops the run (every `finally` runs); one during that shutdown is
    noted and ignored. Raised again, it would cut the shutdown short: shards missing from
    the failure record, Ray's agents left running, the exit code lost (an impatient second
    Ctrl-C is common, and schedulers send SIGTERM more than once)."""
    _SIGNALLED.append(signum)
    if len(_SIGNALLED) > 1:
        print(
            "stopping: recording the unfinished shards and stopping Ray (kill -9 stops at "
            "once, without that record)",
            file=sys.stderr,
        )
        return
    raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def say(text: str) -> int:
    """Print an informational flag's answer (--help, --cfg, --info)."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        # The reader stopped early (`--help | head`): not an error. Stdout goes to devnull
        # so the interpreter's last flush at exit does not raise it again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def informational(command: Command) -> int | None:
    """The answer to a flag that runs nothing, or None when the command runs a sweep."""
    from orchestrator import cli_output

    if command.has("--help"):
        return say(cli_output.help_text(command))
    if command.has("--shell-completion"):
        return say(cli_output.completion_script(command.flags["--shell-completion"]))
    if command.has("--complete"):
        return say("\n".join(cli_output.complete(command, command.flags["--complete"])))
    if command.has("--info"):
        return say(cli_output.info_text(command))
    if command.has("--cfg"):
        return say(cli_output.cfg_text(command).rstrip("\n"))
    return None


def main(argv: list[str]) -> int:
    try:
        command = parse(argv)
        answered = informational(command)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if answered is not None:
        return answered
    # Handlers for this invocation only: a caller that runs main() in its own process (a
    # test, a notebook) gets its own back, and a signal it sends later is not ignored.
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    _SIGNALLED.clear()
    for signum in previous:
        signal.signal(signum, _stop)
    try:
        return _main(command.overrides)
    finally:
        for signum, handler in previous.items():
            if handler is not None:
                signal.signal(signum, handler)


def _main(argv: list[str]) -> int:
    from orchestrator.run import run

    try:
        report = run(argv)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        if e.errno not in DISK_ERRORS:
            raise
        where = f" {e.filename}" if e.filename else ""
        record = e.record if isinstance(e, NotWritten) else "failed_shards.json"
        listed = f"listed in {record}" if record else "found again by the re-run"
        print(
            f"error: cannot write{where}: {e.strerror}; free space (or make output_root "
            "writable, or point it elsewhere) and re-run the same command: finished shards "
            f"are kept, the unfinished ones are {listed}",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt as e:
        first = _SIGNALLED[0] if _SIGNALLED else None
        terminated = first == signal.SIGTERM if first else isinstance(e, Terminated)
        why = "terminated (SIGTERM)" if terminated else "interrupted"
        print(
            f"{why}: finished shards are saved, the unfinished ones listed in "
            "failed_shards.json; re-run the same command to resume",
            file=sys.stderr,
        )
        return 143 if terminated else 130
    # A failed shard or a report that could not be built: the run is not a clean success.
    return 1 if report.failures or report.report_error else 0


def entry() -> None:
    """The `mosweep` console command."""
    sys.exit(main(sys.argv[1:]))


# vLLM's engine processes re-import the main module when they spawn: keep the guard.
if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
