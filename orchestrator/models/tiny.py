"""A tiny random Llama with a trained byte-level BPE tokenizer and a ChatML template.

144k parameters, built in well under a second: vLLM serves it like any model, so tests
exercise the real engine without downloading anything. Outputs are gibberish by design.
"""

from __future__ import annotations

from pathlib import Path

from jobs import durable

CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CORPUS = [
    "You are a helpful assistant. Answer the question in one short sentence.",
    "The capital of France is Paris. Water boils at one hundred degrees.",
    "What why how name give the a of is in to and for with that this on are",
    "system user assistant training deployment free paid tier request comply refuse",
] * 20


def build_tiny(name: str, cache: Path) -> Path:
    """The tiny model folder for this name (its suffix seeds the weights), built once."""
    from orchestrator.models.lock import prepare_lock

    target = cache / "models" / name
    with prepare_lock(target):
        if not (target / "config.json").is_file():
            partial = durable.staging_folder(target)
            _build(partial, seed=sum(map(ord, name)))
            durable.publish_folder(partial, target)
    return target


def _build(folder: Path, seed: int) -> None:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=512,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # any text encodes: no <unk>
    )
    bpe.train_from_iterator(CORPUS, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        bos_token="<|endoftext|>",
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=256,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(config)  # float32, torch's default
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
