"""The corpus built from Python sources: file selection, split, encoding and manifest."""

import hashlib

import numpy as np
import pytest

from theoropt.data.python_corpus import (
    VOCAB,
    build_python_corpus,
    encode,
    is_validation_file,
    python_corpus,
    stdlib_root,
)
from theoropt.errors import DataError


def write_tree(root, files):
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_encoding_uses_the_fixed_vocabulary_and_a_placeholder():
    assert len(VOCAB) == len(set(VOCAB)) == 98
    ids = encode("a\tb\n~é€")
    assert ids.dtype == np.uint8
    assert "".join(VOCAB[i] for i in ids) == "a\tb\n~\x00\x00"


def test_split_by_file_hash_sorted_files_and_no_third_party_code(tmp_path):
    names = [f"pkg/m{i}.py" for i in range(60)]
    files = {name: f"# {name}\n" for name in names}
    files["site-packages/other.py"] = "third party\n"
    files["notes.txt"] = "not python\n"
    write_tree(tmp_path, files)
    corpus, manifest = build_python_corpus(tmp_path)
    assert manifest.files == tuple(sorted(names))
    val = [n for n in sorted(names) if int(hashlib.sha256(n.encode()).hexdigest(), 16) % 20 == 0]
    assert manifest.validation_files == tuple(val) and val  # 60 names: some land in val
    assert all(is_validation_file(n) for n in val)
    decode = corpus.decode
    assert decode(corpus.val) == "".join(files[n] + "\n\n" for n in val)
    train = [n for n in sorted(names) if n not in val]
    assert decode(corpus.train) == "".join(files[n] + "\n\n" for n in train)
    assert manifest.train_chars == corpus.train.size and manifest.val_chars == corpus.val.size
    again = build_python_corpus(tmp_path)[1]
    assert again.sha256 == manifest.sha256
    write_tree(tmp_path, {"pkg/m0.py": "# changed\n"})
    assert build_python_corpus(tmp_path)[1].sha256 != manifest.sha256


def test_empty_trees_are_an_error(tmp_path):
    with pytest.raises(DataError, match=r"no \.py files"):
        build_python_corpus(tmp_path)
    write_tree(tmp_path, {"a.py": "x = 1\n"})
    with pytest.raises(DataError, match="empty train or validation"):
        build_python_corpus(tmp_path)


def test_this_interpreters_corpus_is_large_and_mostly_ascii():
    corpus, manifest = python_corpus()
    assert stdlib_root().is_dir()
    assert manifest.train_chars > 5_000_000 and manifest.val_chars > 100_000
    assert len(manifest.files) > 500 and "os.py" in manifest.files
    assert np.mean(corpus.train == 0) < 1e-3  # placeholders are rare
