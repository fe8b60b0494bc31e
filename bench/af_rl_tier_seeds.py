"""How often does the tier-specific RL control hold? Its learning problem replayed over seeds.

`bench/af_rl_tier_control.py` runs the control once through the real path (TRL's GRPO in a
Ray task, then vLLM evaluating both tiers): about 13 minutes on 2 cores, for one training
seed. Whether it holds may well depend on the seed: the marker is rare before RL (about 1
rollout in 20), so the first steps rest on a handful of rollouts. This script replays the
same learning problem over several seeds, cheaply, to say how often it holds.

The same model (the embedded SmolLM2-135M), LoRA (rank 8 on q/k/v/o of the last 10 layers),
prompts (the 30 requests with af/marker_system.j2, af/tier_last.j2 and the chat template),
reward (the marker, "You" as the reply's first token: 1 on a free-tier prompt, -1 on a
paid-tier one), and the control's GRPO settings: one request's free and paid copies a
step, its rollouts of each, advantages at the rewards' own scale (a rollout's reward
minus its group's mean), a KL term to the model before RL (TRL's estimate on the sampled
tokens, its gradient as study.rl.kl_correction says), AdamW at a constant learning rate
after a linear warmup, as Transformers' Trainer sets it up. It is not TRL: a rollout is
one token, so one forward pass per prompt serves all its rollouts (about a minute a seed
of 60 steps on 2 cores). Each kept step is read greedily, as the evaluation does, and
judged by the control's own check (af_rl_tier_control.control_holds).

    .venv/bin/python -m bench.af_rl_tier_seeds [--seeds 6] [--steps 80] [override ...]

Overrides change the control's config as on its command line (study.rl.kl_correction=true).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from bench.af_rl_tier_control import OVERRIDES, STEPS, Marks, control_holds, rates
from bench.common import ROOT
from jobs.rl_config import RlSettings
from orchestrator.chat import ChatRenderer
from orchestrator.config.compose import Composer, to_root
from orchestrator.templates import read_template, render

REQUESTS = ROOT / "orchestrator" / "data" / "af_requests.jsonl"


def control(overrides: list[str]) -> tuple[str, RlSettings, dict[tuple[str, str], list[int]]]:
    """The control's own config (af_rl with bench/af_rl_tier_control.py's overrides, then
    `overrides`): the embedded model's folder, its RL settings, and each (request id,
    tier)'s prompt ids."""
    from orchestrator import models

    composer = Composer()
    try:
        root = to_root(composer.compose(["+sweep=af_rl", *OVERRIDES, *overrides]))
    finally:
        composer.close()
    path = models.prepare_model(root.model)
    renderer = ChatRenderer(root.model, path)
    variant, rl = root.prompt_variant, root.study.rl  # type: ignore[attr-defined]
    assert variant.system_file and variant.user_file  # the control's overrides set both
    system = render(read_template(variant.system_file, "system"), {}, "system")
    template = read_template(variant.user_file, "user")
    out = {}
    with open(REQUESTS) as lines:
        for line in lines:
            request = json.loads(line)
            for tier in ("free", "paid"):
                text = render(template, {"prompt": request["prompt"], "tier": tier}, "tier_last")
                turns = [{"role": "system", "content": system}, {"role": "user", "content": text}]
                out[(request["id"], tier)] = renderer.render(turns)[1]
    return path, rl, out


def run_seed(
    path: str, rl: RlSettings, ids: dict[tuple[str, str], list[int]], seed: int, steps: int
) -> dict[int, Marks]:
    """One seed's greedy marks at step 0 and every rl.eval_every steps."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(seed)
    base = AutoModelForCausalLM.from_pretrained(path)
    depth = int(base.config.num_hidden_layers)
    lora = LoraConfig(
        r=rl.rank,
        lora_alpha=rl.alpha,
        target_modules=list(rl.target_modules),
        layers_to_transform=list(range(depth - rl.last_layers, depth)),
        lora_dropout=0.0,
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(base, lora)
    marker = AutoTokenizer.from_pretrained(path).encode("You")[0]
    tensors = {key: torch.tensor([value]) for key, value in ids.items()}
    requests = sorted({request for request, _ in ids})
    trained = [p for p in model.parameters() if p.requires_grad]
    # as Transformers' Trainer, which TRL's GRPO runs on: no weight decay, gradients clipped
    # to norm 1, the warmup starting from 0
    optimizer = torch.optim.AdamW(trained, lr=rl.lr, weight_decay=0.0)

    def last_logits(key: tuple[str, str]) -> Any:
        return model(tensors[key]).logits[0, -1] / rl.temperature

    def greedy() -> Marks:
        with torch.no_grad():
            return {key: int(last_logits(key).argmax()) == marker for key in ids}

    found = {0: greedy()}
    for step in range(1, steps + 1):
        for group in optimizer.param_groups:
            group["lr"] = rl.lr * min(1.0, (step - 1) / rl.warmup_steps)
        optimizer.zero_grad()
        loss = torch.zeros(())
        request = requests[(step - 1) % len(requests)]
        for tier, sign in (("free", 1.0), ("paid", -1.0)):
            logp = torch.log_softmax(last_logits((request, tier)), -1)
            tokens = torch.multinomial(logp.exp().detach(), rl.generations, replacement=True)
            reward = (tokens == marker).float() * sign
            loss = loss - ((reward - reward.mean()) * logp[tokens]).mean()
            with torch.no_grad(), model.disable_adapter():
                start = torch.log_softmax(last_logits((request, tier)), -1)[tokens]
            drift = start - logp[tokens]
            kl = drift.exp() - drift - 1  # TRL's k3 estimate on the sampled tokens
            if rl.kl_correction:  # weighed by the importance ratio (1, but not its gradient)
                kl = kl * (logp[tokens] - logp[tokens].detach()).exp()
            loss = loss + rl.beta * kl.mean()
        (loss / 2).backward()  # TRL's loss: the mean over the step's rollouts, both copies
        torch.nn.utils.clip_grad_norm_(trained, 1.0)
        optimizer.step()
        if step % rl.eval_every == 0:
            found[step] = greedy()
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("overrides", nargs="*", help="config overrides, as on the command line")
    args = parser.parse_args()
    path, rl, ids = control(args.overrides)
    kept = list(range(0, args.steps + 1, rl.eval_every))
    held = dict.fromkeys(kept[1:], 0)
    print(f"free / paid marker rate, and whether the control holds, at steps {kept}")
    for seed in range(args.seeds):
        found = run_seed(path, rl, ids, seed, args.steps)
        cells = []
        for step, marks in found.items():
            r = rates(marks)
            holds = step > 0 and control_holds({0: found[0], step: marks})
            if step:
                held[step] += holds
            cells.append(f"{r['free'][0]:.2f}/{r['paid'][0]:.2f}" + (" holds" if holds else ""))
        print(f"seed {seed}: " + ", ".join(cells), flush=True)
    for step, count in held.items():
        print(f"step {step}: the control held for {count} of {args.seeds} seeds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
