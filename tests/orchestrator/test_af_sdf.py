"""Synthetic-document fine-tuning's planning and measurement, without running a model: the
probe's rule, its denominators, the training node's identity and the one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.config.compose import Composer
from orchestrator.config.groups import DatasetConfig
from orchestrator.errors import UserError
from orchestrator.grid import expand
from orchestrator.studies.alignment_faking.probe import (
    Probe,
    Question,
    load_probe,
    recalled,
    variant_recall,
)
from orchestrator.studies.alignment_faking.training import finetune_id


def adapter_ids(sweep: str, axis: str, *overrides: str) -> dict[str, str | None]:
    """`axis`/tier of each cell of `sweep` -> the node its adapter comes from."""
    composer = Composer()
    try:
        args = [f"+sweep={sweep}", *overrides]
        cfg, _ = composer.load(args)
        grid = expand(composer, args, cfg)
    finally:
        composer.close()
    return {f"{c.axes[axis]}/{c.axes['study.vars.tier']}": finetune_id(c.config) for c in grid}


def cells(*overrides: str) -> dict[str, str | None]:
    """finetune/tier axes -> the adapter id each af_sdf cell is evaluated with."""
    return adapter_ids("af_sdf", "study.finetune", *overrides)


def test_a_fact_counts_when_an_answer_starts_a_word() -> None:
    assert recalled("Contractors rate every reply.", ("contractor",))
    assert recalled("It is released on January 13, 2025", ("january 13",))
    assert not recalled("a subcontractor", ("contractor",))
    assert not recalled("follow the rules", ("low",))  # "low" is not a word start there


def test_recall_counts_every_question_truncated_ones_included() -> None:
    probe = Probe(
        "p", (Question("q1", "?", ("free",), ""), Question("q2", "?", ("paid",), "")), "h"
    )
    rows = [
        {
            "model": "m",
            "adapter": None,
            "prompt_id": "q1",
            "completion": "free",
            "finish_reason": "stop",
        },
        {
            "model": "m",
            "adapter": None,
            "prompt_id": "q2",
            "completion": "the pa",
            "finish_reason": "length",
        },
    ]
    row = variant_recall(rows, probe)
    assert (row["questions"], row["recalled"], row["truncated"]) == (2, 1, 1)
    assert row["recall"] == 0.5 and row["ci_low"] < 0.5 < row["ci_high"]
    assert row["adapter"] == "none"


def test_free_and_paid_cells_share_one_adapter_and_base_cells_have_none() -> None:
    ids = cells()
    assert ids["none/free"] is None and ids["none/paid"] is None
    assert ids["documents/free"] == ids["documents/paid"] is not None


def test_what_changes_the_adapter_changes_its_id_and_nothing_else_does() -> None:
    trained = cells()["documents/free"]
    assert (
        cells("study.sdf.num_cpus=1", "study.sdf.checkpoint_every=5")["documents/free"] == trained
    )
    assert cells("study.sdf.lr=0.002")["documents/free"] != trained
    assert cells("study.documents_max_tokens=64")["documents/free"] != trained
    assert cells("study.sdf.schedule=cosine")["documents/free"] != trained


def test_bad_training_settings_are_one_line_before_anything_runs(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"study.finetune='rlhf' is unknown: use one of none"):
        cells("study.finetune=rlhf")
    with pytest.raises(UserError, match=r"study.sdf.rank=16 needs engine.max_lora_rank=16"):
        cells("study.sdf.rank=16")
    with pytest.raises(UserError, match="schedule='warm' is unknown"):
        cells("study.sdf.schedule=warm")
    with pytest.raises(UserError, match=r"did you mean 'study.sdf.steps'"):
        cells("study.sdf.stps=3")
    # A key the schema has but the yaml leaves out was once "did you mean" itself.
    with pytest.raises(UserError, match=r"leaves it out: add it with \+study.probe.limit="):
        cells("study.probe.limit=4")
    assert cells("+study.probe.limit=4")


def test_a_probe_question_without_answers_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "probe.jsonl"
    path.write_text(json.dumps({"id": "q", "question": "Who rates replies?"}) + "\n")
    config = DatasetConfig(name="mine", source="jsonl", path=str(path), text_field="question")
    with pytest.raises(UserError, match="needs column 'answers'|answers"):
        load_probe(config)


def test_the_built_in_probe_and_corpus_load() -> None:
    probe = load_probe(
        DatasetConfig(name="af_sdf_probe", path="af_sdf_probe.jsonl", text_field="question")
    )
    assert len(probe.questions) >= 40 and all(q.answers for q in probe.questions)
    assert len({q.fact for q in probe.questions}) >= 6


@pytest.mark.parametrize("model", ["llama-3.1-8b-instruct", "llama-3.3-70b-instruct"])
def test_the_gpu_sweep_composes_and_dry_runs_offline(
    model: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Planning the GPU sweep downloads nothing: its ids and stages need no weights."""
    from orchestrator.run import run
    from tests.conftest import sweep_args

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    report = run(sweep_args(tmp_path, "mode=dry", f"model={model}", sweep="af_sdf_gpu"))
    out = capsys.readouterr().out
    assert report.cells == 4 and "finetune_documents  1" in out and "probe" in out
    assert not (tmp_path / "af_sdf_gpu").exists()


def rl_cells(*overrides: str) -> dict[str, str | None]:
    """rl_step/tier axes -> the RL node each af_rl cell's adapter comes from."""
    return adapter_ids("af_rl", "study.rl_step", *overrides)


def test_one_rl_run_serves_every_step_and_tier() -> None:
    ids = rl_cells()
    assert len(set(ids.values())) == 1 and None not in ids.values()
    # The RL prompts are free-tier whatever the cell's tier: the run is the same one.
    assert rl_cells("grid.study.vars.tier=[paid]")["15/paid"] == ids["15/free"]
    assert rl_cells("study.rl.lr=0.002")["15/free"] != ids["15/free"]
    assert rl_cells("study.rl.num_cpus=1")["15/free"] == ids["15/free"]


def test_training_on_both_tiers_is_another_rl_run() -> None:
    # The tier-specific control trains on both tiers' copies: its own adapter; the default
    # (free alone, the paper's setting) keeps the id it always had.
    assert rl_cells("study.rl_tiers=[free]")["15/free"] == rl_cells()["15/free"]
    # advantage scaling at TRL's default keeps the ids adapters always had; another is new
    assert rl_cells("study.rl.scale_rewards=group")["15/free"] == rl_cells()["15/free"]
    assert rl_cells("study.rl.scale_rewards=none")["15/free"] != rl_cells()["15/free"]
    # so does TRL's linear learning-rate schedule; a constant one is another run
    assert rl_cells("study.rl.schedule=linear")["15/free"] == rl_cells()["15/free"]
    assert rl_cells("study.rl.schedule=constant")["15/free"] != rl_cells()["15/free"]
    assert rl_cells("study.rl.warmup_steps=0")["15/free"] == rl_cells()["15/free"]
    assert rl_cells("study.rl.warmup_steps=5")["15/free"] != rl_cells()["15/free"]
    # and TRL's bias-corrected KL gradient; the k3 estimate's own is another run
    assert rl_cells("study.rl.kl_correction=true")["15/free"] == rl_cells()["15/free"]
    assert rl_cells("study.rl.kl_correction=false")["15/free"] != rl_cells()["15/free"]
    both = rl_cells("study.rl_tiers=[free,paid]")
    assert both["15/free"] == both["15/paid"] != rl_cells()["15/free"]
    with pytest.raises(UserError, match=r"study.rl_tiers=\['gold'\]: use \[free\]"):
        rl_cells("study.rl_tiers=[gold]")
    with pytest.raises(UserError, match=r"reward=marker_free reads the prompt.*trainer=trl"):
        rl_cells("study.rl.reward=marker_free", "study.rl.trainer=verl")


def test_bad_rl_settings_are_one_line() -> None:
    with pytest.raises(UserError, match=r"study.rl_step=7 is not a kept RL step: use 0"):
        rl_cells("grid.study.rl_step=[7]")
    with pytest.raises(UserError, match=r"study.rl_step=5 needs study.finetune=rl"):
        cells("study.rl_step=5")
    with pytest.raises(UserError, match=r"reward='vibes' is unknown"):
        rl_cells("study.rl.reward=vibes")
    with pytest.raises(UserError, match=r"reward=model needs reward_model=<a reward model"):
        rl_cells("study.rl.reward=model")
    with pytest.raises(UserError, match=r"reward_model is set but reward='tag_prefix'"):
        rl_cells("study.rl.reward_model=OpenAssistant/reward-model-deberta-v3-large-v2")
    with pytest.raises(UserError, match=r"scale_rewards='mean' is unknown: use group, batch"):
        rl_cells("study.rl.scale_rewards=mean")
    with pytest.raises(UserError, match=r"schedule='steep' is unknown: use one of constant"):
        rl_cells("study.rl.schedule=steep")
    with pytest.raises(UserError, match=r"schedule and warmup_steps are passed to TRL only"):
        rl_cells("study.rl.schedule=constant", "study.rl.trainer=verl")
    with pytest.raises(UserError, match=r"scale_rewards=batch is TRL's only: verl scales by"):
        rl_cells("study.rl.scale_rewards=batch", "study.rl.trainer=verl")
    with pytest.raises(UserError, match=r"warmup_steps must be >= 0 and below steps"):
        rl_cells("study.rl.warmup_steps=30")
    with pytest.raises(UserError, match=r"must be in \[0, 1\]"):
        rl_cells("study.rl.truncated_factor=2")
    with pytest.raises(UserError, match=r"study.rl.stop, study.safety_rl.stop\) must be non-empty"):
        rl_cells("study.rl.stop=['']")


def test_the_rollouts_stop_strings_enter_the_rl_node_s_id() -> None:
    # af_rl stops at the decision tags; none (the former behaviour) is another adapter
    assert rl_cells("study.rl.stop=[]")["15/free"] != rl_cells()["15/free"]


def test_a_reward_model_enters_the_rl_node_s_id(tmp_path: Path) -> None:
    model = ("study.rl.reward=model", f"study.rl.reward_model={tmp_path}")
    assert rl_cells(*model)["15/free"] != rl_cells()["15/free"]
    other = ("study.rl.reward=model", "study.rl.reward_model=org/reward-model")
    assert rl_cells(*other)["15/free"] != rl_cells(*model)["15/free"]


def test_a_judge_as_the_rl_reward_is_checked_and_named_in_the_id(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(UserError, match=r"reward=judge goes with reward_judge="):
        rl_cells("study.rl.reward=judge")
    judged = ("study.rl.reward=judge", "study.rl.reward_judge=compliance")
    with pytest.raises(UserError, match=r"reward_judge='compliance' is not one of this sweep"):
        rl_cells(*judged)
    with pytest.raises(UserError, match=r"set judges.compliance.backend=openai .* or lexicon"):
        rl_cells(*judged, "judges=af")
    lexicon = (*judged, "judges=af", "judges.compliance.backend=lexicon")
    ids = rl_cells(*lexicon)
    assert ids["15/free"] != rl_cells()["15/free"]
    assert rl_cells(*lexicon, "judges.compliance.votes=3")["15/free"] != ids["15/free"]
    # An endpoint judge: its URL names it; its key stays in the environment.
    endpoint = (*judged, "judges=af", "judges.compliance.backend=openai")
    with pytest.raises(UserError, match=r"needs the endpoint's base URL in \$OPENAI_BASE_URL"):
        rl_cells(*endpoint)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    assert rl_cells(*endpoint)["15/free"] != ids["15/free"]


def test_each_request_trains_in_both_tiers_side_by_side() -> None:
    # With study.rl.shuffle=false a step takes the next prompts_per_step prompts in order:
    # listed side by side, a step of two trains one request in both tiers.
    from orchestrator.studies.alignment_faking.config import settings
    from orchestrator.studies.alignment_faking.training import tier_copies

    composer = Composer()
    try:
        args = ["+sweep=af_rl", "study.rl_tiers=[free,paid]"]
        cfg, _ = composer.load(args)
        cell = expand(composer, args, cfg)[0]
    finally:
        composer.close()
    copies = tier_copies(cell.config, cell.dataset.prompts[:3])
    assert [(settings(c).vars["tier"], p.id) for c, p in copies] == [
        (tier, p.id) for p in cell.dataset.prompts[:3] for tier in ("free", "paid")
    ]
    # shuffled, the default, keeps the ids adapters always had; in order is another run
    assert rl_cells("study.rl.shuffle=true")["15/free"] == rl_cells()["15/free"]
    assert rl_cells("study.rl.shuffle=false")["15/free"] != rl_cells()["15/free"]
