"""Optional transformers backend for the validity classifier (the seed fine-tuned a BERT).

`base_model` names a pretrained encoder to fine-tune (a local folder or a hub id, e.g. a Chinese
BERT) and is the choice for a GPU. Left empty, a small encoder is built from scratch over the
training fragments' characters: no download, CPU-sized, and what the tests train here.
torch and transformers are imported only when this backend is used (`pip install .[transformers]`).
"""
from __future__ import annotations

import io
import random
import tarfile
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


@dataclass(frozen=True)
class TransformerCfg:
    """How the encoder is fine-tuned. lr 0 picks 5e-5 for a pretrained model, 1e-3 from scratch."""

    base_model: str = ""
    epochs: int = 3
    batch_size: int = 32
    lr: float = 0.0
    max_length: int = 96
    device: str = "auto"  # auto: cuda when torch sees a GPU, else cpu
    seed: int = 0
    vocab_chars: int = 6000  # scratch only: most frequent training characters kept in the vocabulary
    hidden: int = 96  # scratch only

    def __post_init__(self):
        if self.epochs < 1 or self.batch_size < 1 or self.max_length < 8:
            raise ValueError("epochs and batch_size must be >= 1 and max_length >= 8")


def _libs():
    try:
        import torch
        import transformers
    except ImportError as e:
        raise ImportError("the transformers validity backend needs torch and transformers: "
                          "pip install '.[transformers]' (or use backend 'ngram')") from e
    return torch, transformers


def _device(torch, name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} asked for, but torch sees no GPU; use device 'auto' or 'cpu'")
    return name


def _scratch(texts: list[str], cfg: TransformerCfg):
    """A small BERT and a character vocabulary (CJK characters are single tokens; other words split
    into characters through `##` pieces)."""
    _, tf = _libs()
    chars = [c for c, _ in Counter(c for t in texts for c in t if not c.isspace()).most_common(cfg.vocab_chars)]
    pieces = [f"##{c}" for c in chars]
    vocab = {token: i for i, token in enumerate(SPECIAL + chars + pieces)}
    tokenizer = tf.BertTokenizerFast(vocab=vocab, do_lower_case=False)
    config = tf.BertConfig(vocab_size=len(vocab), hidden_size=cfg.hidden,
                           num_hidden_layers=2, num_attention_heads=2, intermediate_size=2 * cfg.hidden,
                           max_position_embeddings=cfg.max_length + 2, num_labels=2)
    return tokenizer, tf.BertForSequenceClassification(config)


@dataclass
class TransformerValidity:
    """A fine-tuned sequence classifier kept as the bytes of its saved folder (model + tokenizer),
    so the ExamModels blob stays one file; loaded on first use."""

    files: bytes
    cfg: TransformerCfg
    threshold: float
    _loaded: tuple | None = field(default=None, repr=False, compare=False)

    def __getstate__(self):
        return {**self.__dict__, "_loaded": None}

    def _model(self):
        if self._loaded is None:
            torch, tf = _libs()
            device = _device(torch, self.cfg.device)
            with tempfile.TemporaryDirectory(prefix="validity-") as folder:
                with tarfile.open(fileobj=io.BytesIO(self.files)) as tar:
                    tar.extractall(folder, filter="data")
                model = tf.AutoModelForSequenceClassification.from_pretrained(folder).to(device).eval()
                self._loaded = (tf.AutoTokenizer.from_pretrained(folder), model, device)
        return self._loaded

    def scores(self, texts: list[str], features=None) -> np.ndarray:
        """P(valid) per text; `features` (the n-gram matrix) is not used by this backend."""
        if not texts:
            return np.zeros(0)
        torch, _ = _libs()
        tokenizer, model, device = self._model()
        out = []
        with torch.inference_mode():
            for i in range(0, len(texts), 4 * self.cfg.batch_size):
                batch = tokenizer(texts[i : i + 4 * self.cfg.batch_size], truncation=True, max_length=self.cfg.max_length,
                                  padding=True, return_tensors="pt").to(device)
                out.append(torch.softmax(model(**batch).logits.float(), dim=-1)[:, 1].cpu().numpy())
        return np.concatenate(out).astype(np.float64)


def train_transformer(texts: list[str], labels: np.ndarray, weights: np.ndarray, cfg: TransformerCfg,
                      threshold: float, log=print) -> TransformerValidity:
    """Fine-tune (or train from scratch) with weighted cross-entropy; plain torch loop, no Trainer."""
    torch, tf = _libs()
    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    device = _device(torch, cfg.device)
    with tempfile.TemporaryDirectory(prefix="validity-") as tmp:
        folder = Path(tmp)
        if cfg.base_model:
            tokenizer = tf.AutoTokenizer.from_pretrained(cfg.base_model)
            model = tf.AutoModelForSequenceClassification.from_pretrained(cfg.base_model, num_labels=2)
        else:
            tokenizer, model = _scratch(texts, cfg)
        model.to(device).train()
        lr = cfg.lr or (5e-5 if cfg.base_model else 1e-3)
        opt = torch.optim.AdamW(model.parameters(), lr=lr)
        order = list(range(len(texts)))
        y = torch.tensor(labels, dtype=torch.long)
        w = torch.tensor(weights, dtype=torch.float32)
        for epoch in range(cfg.epochs):
            rng.shuffle(order)
            total = 0.0
            for i in range(0, len(order), cfg.batch_size):
                idx = order[i : i + cfg.batch_size]
                batch = tokenizer([texts[j] for j in idx], truncation=True, max_length=cfg.max_length,
                                  padding=True, return_tensors="pt").to(device)
                loss = torch.nn.functional.cross_entropy(model(**batch).logits, y[idx].to(device), reduction="none")
                loss = (loss * w[idx].to(device)).sum() / w[idx].sum().to(device)
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += loss.item() * len(idx)
            log(f"validity transformer: epoch {epoch + 1}/{cfg.epochs}, loss {total / len(order):.4f}")
        model.eval().to("cpu").save_pretrained(folder / "model")
        tokenizer.save_pretrained(folder / "model")
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            tar.add(folder / "model", arcname=".")
    return TransformerValidity(buf.getvalue(), cfg, threshold)
