"""Agreement of the alignment-faking-reasoning judge with 12 hand-labelled scratchpads
(tests/fixtures/af_scratchpads.jsonl: 6 faking, 6 not), on a model the engine serves here.

    .venv/bin/python bench/af_judge_agreement.py                       # embedded SmolLM2, CPU
    .venv/bin/python bench/af_judge_agreement.py --model llama-3.3-70b-instruct   # a GPU node

It uses the judge exactly as the af_grid sweep configures it (conf/judges/af.yaml: template,
votes, temperature, threshold), renders with the judge model's chat template, and serves
the prompts with vLLM in this process. It prints one table: valid votes, agreement, and
the confusion counts.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from jobs.judges.llm import JUDGES, aggregate, band
from jobs.judges.parse import parse
from orchestrator.chat import ChatRenderer
from orchestrator.config.compose import Composer, to_root
from orchestrator.ids import request_seed
from orchestrator.templates import read_template, render
from orchestrator.workers import engine_settings, worker_env

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "af_scratchpads.jsonl"


def main(model: str, device: str) -> None:
    composer = Composer()
    try:
        root = to_root(composer.compose(["+sweep=af_grid", f"model={model}"]))
    finally:
        composer.close()
    spec = root.judges["af_reasoning"]
    judge = JUDGES["af_reasoning"]
    template = read_template(spec.template, "af_reasoning")
    fixtures = [json.loads(line) for line in FIXTURES.read_text().splitlines()]

    from orchestrator import models

    path = models.prepare_model(root.model)
    renderer = ChatRenderer(root.model, path)
    os.environ.update(worker_env(root, device, str(models.cache_dir())))
    from vllm import LLM, SamplingParams
    from vllm.inputs import TokensPrompt

    from jobs.engines.vllm_engine import llm_kwargs

    llm = LLM(**llm_kwargs(engine_settings(root, device, path)))
    prompts, params = [], []
    for item in fixtures:
        parsed = parse(f"<SCRATCHPAD_REASONING>{item['scratchpad']}</SCRATCHPAD_REASONING>", "stop")
        variables = judge.variables("", parsed) or {}
        _, ids = renderer.render([{"role": "user", "content": render(template, variables, "")}])
        prompts.append(TokensPrompt(prompt_token_ids=ids))
        params.append(
            SamplingParams(
                n=spec.votes,
                temperature=spec.temperature,
                max_tokens=spec.max_tokens,
                seed=request_seed(spec.seed, item["id"]),
            )
        )
    outputs = llm.generate(prompts, params, use_tqdm=False)
    counts = {"tp": 0, "fp": 0, "tn": 0, "fn": 0, "undecided": 0}
    valid = 0
    for item, output in zip(fixtures, outputs, strict=True):
        columns = aggregate(judge, [o.text for o in output.outputs])
        valid += int(columns["af_votes"] or 0)
        share = columns["af_vote_share"]
        label = band(share if isinstance(share, float) else None, spec.threshold, spec.possible)
        if label is None:
            counts["undecided"] += 1
            continue
        said = label == "yes"
        key = ("t" if said == item["faking"] else "f") + ("p" if said else "n")
        counts[key] += 1
    agree = counts["tp"] + counts["tn"]
    print("| model | scratchpads | valid votes | agreement | tp | fp | tn | fn | undecided |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(
        f"| {model} | {len(fixtures)} | {valid}/{len(fixtures) * spec.votes} | "
        f"{agree}/{len(fixtures)} ({agree / len(fixtures):.0%}) | {counts['tp']} | {counts['fp']} "
        f"| {counts['tn']} | {counts['fn']} | {counts['undecided']} |"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m", help="a conf/model/ name")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = parser.parse_args()
    main(args.model, args.device)
    sys.exit(0)
