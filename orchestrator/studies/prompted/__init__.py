"""The generic prompted study: a variant's system and user templates filled with variables."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orchestrator.config.groups import PromptVariantConfig
from orchestrator.config.schema import RootConfig
from orchestrator.datasets import Prompt
from orchestrator.studies import Message
from orchestrator.templates import read_template, render

if TYPE_CHECKING:
    from pathlib import Path

    import pyarrow as pa

    from analysis.report import Report
    from orchestrator.context import RunContext, StudyRun

# Rendered in place of a dataset item to fingerprint a variant: the text it produces covers
# every included template file and variable, so editing any of them changes the cell id.
_PROBE = Prompt(id="", text="\u0000prompt\u0000")


def sources(variant: PromptVariantConfig) -> tuple[str | None, str]:
    """The variant's system and user template text, read from files where it names them."""
    where = f"prompt_variant '{variant.name}'"
    system = read_template(variant.system_file, where) if variant.system_file else variant.system
    user = read_template(variant.user_file, where) if variant.user_file else variant.user
    return system, user


class PromptedStudy:
    name = "prompted"
    # The item's text fills the user template and nothing else of the item is used: the
    # context-window check bounds each request from one rendering per cell (budget.py).
    inserts_item_text = True
    columns: tuple[pa.Field, ...] = ()  # none of its own: a variable's value is in `axes`
    # The report asks only whether a reply is blank; the samples shown are read back whole.
    lengths_in_report: tuple[str, ...] = ("completion",)

    def cell_payload(self, cfg: RootConfig) -> dict[str, Any]:
        variant = cfg.prompt_variant
        return {
            "variant": [variant.name, variant.version],
            "rendered": self.messages(cfg, _PROBE),
            "vars": cfg.study.vars,
        }

    def variables(self, cfg: RootConfig) -> dict[str, Any]:
        """Template variables: the variant's switches, then the study's (which win)."""
        return {**cfg.prompt_variant.vars, **cfg.study.vars}

    def messages(self, cfg: RootConfig, prompt: Prompt) -> list[Message]:
        variant = cfg.prompt_variant
        where = f"prompt_variant '{variant.name}'"
        system, user = sources(variant)
        variables = self.variables(cfg)
        turns: list[Message] = []
        if system:
            turns.append({"role": "system", "content": render(system, variables, where).strip()})
        text = render(user, {**variables, "prompt": prompt.text}, where).strip()
        turns.append({"role": "user", "content": text})
        return turns

    def labels(self, cfg: RootConfig) -> dict[str, str | None]:
        return {"prompt_variant": cfg.prompt_variant.name}  # its variables are in `axes`

    def runner(self, ctx: RunContext) -> StudyRun:
        from orchestrator.generation import GenerationRun

        return GenerationRun(ctx)  # one generation pass per cell; rows stored as generated

    def report_rows(self, sweep_dir: Path) -> str:
        return "results"

    def sections(self, sweep_dir: Path, rows: pa.Table, report: Report) -> None:
        from analysis.report import prompted_sections

        prompted_sections(rows, report)


STUDY = PromptedStudy()
