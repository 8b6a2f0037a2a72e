"""Loaders for the data sets shipped with theoropt (checksums verified on load)."""

from theoropt.data.libsvm import load_libsvm
from theoropt.data.registry import DATASETS, verified_path
from theoropt.data.text import CharCorpus, char_corpus, load_text

__all__ = ["DATASETS", "CharCorpus", "char_corpus", "load_libsvm", "load_text", "verified_path"]
