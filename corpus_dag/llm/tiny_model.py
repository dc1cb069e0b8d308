"""A tiny random Qwen2 model with a real byte-level BPE tokenizer, built locally.

No model hub is reachable on CPU test machines, yet tests and the demo must run real vLLM.
The weights are random, so the text is garbage; the plumbing (tokenizer, chat template,
vLLM loading, logprobs, servers) is exercised for real. The tokenizer is trained on the
short zh/en corpus in `tiny_corpus.txt` next to this file.
"""
from __future__ import annotations

from pathlib import Path

CORPUS = Path(__file__).with_name("tiny_corpus.txt")
VOCAB_SIZE = 2048
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
# A file in the model folder that marks it as this random model, so stages and the demo can say why
# its outputs are empty instead of looking broken.
MARKER = "RANDOM_WEIGHTS.txt"
RANDOM_MODEL_NOTE = (
    "The rebuild LLM is the tiny random model built for CPU demos and tests (random weights): its "
    "responses never parse, so every rebuilt sample is `invalid_response` and 0 verified math items "
    "(and 0 rows in the math dedup / decontamination stages) is expected. For real items point "
    "CORPUS_REBUILD_MODEL (or the `llm` resource's `model`) at a real model folder, or set the `llm` "
    "resource to `kind: openai` with `base_url`, `model` and `api_key_env` for an OpenAI-compatible server."
)


# What stages that judge or score with the model say when it is this one.
NOISE_NOTE = (
    "the model is the tiny RANDOM demo model (corpus_dag.llm.tiny_model): every response, critique score, "
    "reward and judgement here is noise; the machinery is real, the data is not"
)


def is_random_tiny_model(model: str | Path | None) -> bool:
    """True for a folder built by `build_tiny_model` (it carries the marker file)."""
    return bool(model) and (Path(model) / MARKER).is_file()


def build_tiny_model(path: str | Path, seed: int = 0) -> Path:
    """Build (once) a tiny random Qwen2ForCausalLM plus tokenizer under `path`; return the path.

    Idempotent: an existing `path` is returned untouched. The model is written to a temporary
    sibling folder and renamed into place, so a crash or a concurrent builder never leaves a
    half-written model behind.
    """
    out = Path(path)
    if out.exists():
        return out
    import shutil
    import tempfile

    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    tokenizer = _train_tokenizer()
    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=32,  # vLLM's CPU attention backend needs head_dim >= 32
        max_position_embeddings=2048,
        tie_word_embeddings=False,  # tied random embeddings just echo the prompt back
        bos_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>"),
        eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
        pad_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>"),
        torch_dtype="float32",
    )
    model = Qwen2ForCausalLM(config)
    with torch.no_grad():
        model.lm_head.weight.normal_(0.0, 0.1)
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    (tmp / MARKER).write_text(RANDOM_MODEL_NOTE + "\n", encoding="utf-8")
    try:
        tmp.rename(out)
    except OSError:  # another builder finished first: keep theirs
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _train_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(CORPUS.read_text(encoding="utf-8").splitlines(), trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        bos_token="<|endoftext|>",
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        chat_template=CHATML_TEMPLATE,
        model_max_length=2048,
    )


if __name__ == "__main__":
    import os
    import sys

    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # `make demo`'s first step: no "Writing model shards" bar
    if len(sys.argv) != 2:
        sys.exit("usage: python -m corpus_dag.llm.tiny_model OUTPUT_FOLDER")
    print(build_tiny_model(sys.argv[1]))
