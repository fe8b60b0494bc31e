"""`python -m orchestrator +sweep=NAME [key=value ...]`: run, dry-run or show a sweep.

Only turns the command line into a call of `run` and bad input into one line on stderr.
"""

from __future__ import annotations

import sys

from orchestrator.errors import UserError


def main(argv: list[str]) -> int:
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__.strip() + "\n\nmodes: mode=run (default) | mode=dry | mode=status")
        return 0
    from orchestrator.run import run

    try:
        report = run(argv)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "interrupted: finished shards are saved; re-run the same command to resume",
            file=sys.stderr,
        )
        return 130
    return 1 if report.failures else 0


# vLLM's engine processes re-import the main module when they spawn: keep the guard.
if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
