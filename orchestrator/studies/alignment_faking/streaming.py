"""Judging that goes along with generation: each generated shard is judged as soon as it is
written, in a thread, while the next shards generate. Only judges that run elsewhere (an
endpoint, `backend=openai`) or in the driver (`backend=lexicon`) stream, and so do the rules
alone (`judges=none`: each row parsed and labelled, its scores file written); a judge served
by this run's engines waits for generation to end, as it would compete with it for them.

Batches are what was written while the last batch was judged, so the endpoint's concurrency
fills up as generation runs ahead. Scores files are written exactly as the judge stage
writes them; after generation the judge stage scores whatever is still unscored (a batch
whose judging failed, a judge call that failed), so a run that stops at any point resumes
as before. judges.json names the judges before the first scores file, so a re-run after a
killed driver keeps the files already scored.
"""

from __future__ import annotations

import queue
import threading
from pathlib import Path

from orchestrator.context import RunContext
from orchestrator.judges.cache import JudgeCache
from orchestrator.judges.spec import JudgeSpec, judges_id
from orchestrator.studies.alignment_faking.judging import (
    Judged,
    judge_files,
    record_judges,
    requests_of,
)

# Seconds an interrupted run waits for the batch being judged.
ABANDON_WAIT_S = 2.0

# bench/streaming.py turns this off to measure the lockstep way (judging after generation).
STREAMED = True


def streams(ctx: RunContext, specs: list[JudgeSpec]) -> bool:
    """Whether this run judges as it generates."""
    recorded = ctx.store.read_json("judges.json", {}).get("id")
    return (
        STREAMED
        and ctx.root.mode == "run"
        and all(s.cfg.backend in ("openai", "lexicon") for s in specs)
        # changed judges re-score every file after generation: nothing to stream ahead
        and recorded in (None, judges_id(specs))
    )


class StreamedJudging:
    def __init__(self, ctx: RunContext, specs: list[JudgeSpec]) -> None:
        self.ctx, self.specs = ctx, specs
        self.judged = Judged()
        self.written: queue.Queue[Path | None] = queue.Queue()
        self.stopped: str | None = None  # why judging along stopped (the judge stage goes on)
        # A daemon: a run interrupted mid-batch does not wait for the endpoint's answers (a
        # scores file is put in place whole, or not at all).
        self.thread = threading.Thread(target=self._judge_all, name="mosweep-judge", daemon=True)
        self.thread.start()

    def add(self, path: Path) -> None:
        """A generated shard file, written and listed."""
        self.written.put(path)

    def close(self) -> Judged:
        """Wait for the shards written so far to be judged; what this did."""
        if self.thread.is_alive():
            self.written.put(None)
            self.thread.join()
        if self.stopped:
            print(f"judging along with generation stopped ({self.stopped}): judging the rest now")
        return self.judged

    def abandon(self) -> None:
        """The run was interrupted: judge nothing more, and wait a moment at most for the
        batch being judged (the next run judges what is left)."""
        self.stopped = "interrupted"
        self.written.put(None)
        self.thread.join(timeout=ABANDON_WAIT_S)

    def _judge_all(self) -> None:
        ctx = self.ctx
        try:
            record_judges(ctx, self.specs, 0)
            requests = requests_of(ctx)
            cache = JudgeCache(ctx.store.root / "judge_cache", ctx.store.quarantine)
        except Exception as e:  # the judge stage after generation tries again
            self.stopped = f"{type(e).__name__}: {e}"[:300]
        last = False
        while not last:
            batch = [self.written.get()]
            while not self.written.empty():
                batch.append(self.written.get())
            last = None in batch
            files = [path for path in batch if path is not None]
            if not files or self.stopped:
                continue
            failed = len(self.judged.report.failures)
            try:
                judge_files(ctx, self.specs, files, requests, cache, self.judged, quiet=True)
            except Exception as e:  # a full disk, a judge that cannot be reached
                self.stopped = f"{type(e).__name__}: {e}"[:300]
            if len(self.judged.report.failures) > failed:  # an endpoint failing: the judge
                self.stopped = "a judge call failed"  # stage gives up on it as a whole
