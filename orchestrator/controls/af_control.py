"""Run the alignment-faking controls: train their organisms, run the af_control sweep on
them through the normal pipeline (Ray, vLLM, the judge stage, the metric tables), and
compare what it reports with what was planted."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from jobs.finetune import LoraSettings
from orchestrator.controls.af_organism import Organism, train_organism
from orchestrator.controls.recover import Check, af_checks
from orchestrator.report import RunReport
from orchestrator.run import load_sweep, run


@dataclass(frozen=True)
class AfControlSize:
    """How big a control is: requests (x 2 tiers rows per organism) and training steps."""

    requests: int = 24
    lora: LoraSettings = field(
        default_factory=lambda: LoraSettings(
            rank=8, alpha=16, lr=2e-3, steps=30, batch_size=8, checkpoint_every=10
        )
    )


def sweep_args(output_root: Path, size: AfControlSize) -> list[str]:
    return [
        "+sweep=af_control",
        f"output_root={output_root}",
        f"dataset.limit={size.requests}",
    ]


def af_controls(
    organisms: list[Organism], output_root: Path, size: AfControlSize, *overrides: str
) -> tuple[list[Check], RunReport]:
    """Every organism's checks, from one sweep whose grid adds their weights as an axis.
    `overrides` follow the sweep's own (tests use them to break a judge threshold)."""
    _, _, cells = load_sweep(sweep_args(output_root, size))
    # Each organism's merged weights: trained once per output folder, then reused.
    folder = output_root / "organisms"
    weights = {o.name: train_organism(o, cells, size.lora, folder)[0] for o in organisms}
    axis = ",".join(str(weights[o.name]) for o in organisms)
    args = [*sweep_args(output_root, size), "model.source=local", f"+grid.model.path=[{axis}]"]
    report = run([*args, *overrides])
    if report.failures:
        raise RuntimeError(f"af controls: {len(report.failures)} jobs failed")
    prompts = list(cells[0].dataset.prompts)  # the same requests in every cell
    checks = [
        c for o in organisms for c in af_checks(o, prompts, weights[o.name], report.sweep_dir)
    ]
    return checks, report
