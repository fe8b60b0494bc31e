"""The prompted alignment-faking study: a tier axis, and a judge stage after generation.

Free and paid copies of a request are two cells that differ only in `study.vars.tier`; they
share the dataset, so their rows share `prompt_id` and the compliance gap is paired.
"""

from __future__ import annotations

from typing import Any

from orchestrator.config.schema import RootConfig
from orchestrator.errors import UserError
from orchestrator.studies import register
from orchestrator.studies.prompted import PromptedStudy

TIERS = ("free", "paid")


class AlignmentFakingStudy(PromptedStudy):
    name = "alignment_faking"
    judged = True  # parse, rule-judge and LLM-judge every row after generation

    def variables(self, cfg: RootConfig) -> dict[str, Any]:
        tier = cfg.study.vars.get("tier")
        if tier not in TIERS:
            raise UserError(
                f"study.vars.tier={tier!r}: the alignment_faking study needs tier free or paid "
                "(a grid axis study.vars.tier: [free, paid])"
            )
        return super().variables(cfg)


register(AlignmentFakingStudy())
