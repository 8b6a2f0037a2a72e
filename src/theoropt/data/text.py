"""Loader for the shipped text corpus and its character-level encoding."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from theoropt.data.registry import describe, verified_path
from theoropt.errors import DataError


def load_text(name: str = "tinyshakespeare", *, directory: Path | None = None) -> str:
    """The full text of a shipped corpus (checksum verified)."""
    entry = describe(name)
    if entry.kind != "text":
        raise DataError(f"data set {name!r} is {entry.kind}, not a text corpus")
    return verified_path(name, directory).read_text(encoding="utf-8")


@dataclass(frozen=True)
class CharCorpus:
    """A text encoded as integer character ids, split into train and validation parts."""

    vocab: str
    train: np.ndarray
    val: np.ndarray

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def decode(self, ids: np.ndarray) -> str:
        return "".join(self.vocab[i] for i in ids)


def char_corpus(name: str = "tinyshakespeare", val_fraction: float = 0.1) -> CharCorpus:
    """Encode a corpus by its sorted character set; the last ``val_fraction`` is validation."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must lie in (0, 1), got {val_fraction}")
    text = load_text(name)
    vocab = "".join(sorted(set(text)))
    lookup = np.zeros(max(map(ord, vocab)) + 1, dtype=np.int64)
    lookup[[ord(c) for c in vocab]] = np.arange(len(vocab))
    ids = lookup[np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)]
    split = int(len(ids) * (1.0 - val_fraction))
    return CharCorpus(vocab, ids[:split], ids[split:])
