import bz2
import shutil

import numpy as np
import pytest

from theoropt.data import char_corpus, load_libsvm, load_text
from theoropt.data.registry import DATASETS, data_dir, sha256_of, verified_path
from theoropt.errors import DataError


@pytest.mark.parametrize(
    ("name", "shape"), [("mushrooms", (8124, 112)), ("w8a", (49749, 300)), ("a9a", (32561, 123))]
)
def test_libsvm_sets_have_documented_shapes_and_pm1_labels(name, shape):
    features, labels = load_libsvm(name)
    assert features.shape == shape and labels.shape == (shape[0],)
    assert set(np.unique(labels)) == {-1.0, 1.0}
    assert features.dtype == np.float64


def test_mushrooms_first_row_matches_the_raw_file():
    # Parse the first raw line independently: "<label> <index>:<value> ..." with 1-based indices.
    with bz2.open(data_dir() / "mushrooms.bz2", "rt") as handle:
        label, *pairs = handle.readline().split()
    expected = np.zeros(112)
    for pair in pairs:
        index, value = pair.split(":")
        expected[int(index) - 1] = float(value)
    features, labels = load_libsvm("mushrooms", dense=True)
    np.testing.assert_array_equal(features[0], expected)
    assert labels[0] == (1.0 if label == "2" else -1.0)  # classes 1/2 map to -1/+1


def test_loader_returns_copies():
    first, labels = load_libsvm("mushrooms")
    first.data[:] = 7.0
    labels[:] = 0.0
    again, labels_again = load_libsvm("mushrooms")
    assert again.max() == 1.0 and set(np.unique(labels_again)) == {-1.0, 1.0}


def test_shakespeare_corpus():
    text = load_text("tinyshakespeare")
    corpus = char_corpus()
    assert len(text) == 1_115_394 and corpus.vocab_size == 65
    assert len(corpus.train) + len(corpus.val) == len(text)
    assert corpus.decode(corpus.train[:14]) == text[:14] == "First Citizen:"
    assert corpus.decode(corpus.val[-5:]) == text[-5:]


def test_checksums_in_registry_match_shipped_files():
    for entry in DATASETS.values():
        assert sha256_of(data_dir() / entry.filename) == entry.sha256


def test_corrupt_file_is_named(tmp_path):
    target = tmp_path / DATASETS["mushrooms"].filename
    shutil.copy(data_dir() / DATASETS["mushrooms"].filename, target)
    with target.open("r+b") as handle:
        handle.seek(100)
        handle.write(b"\x00\x01\x02")
    with pytest.raises(DataError, match=r"data file for 'mushrooms' is corrupt: .* expected a039"):
        load_libsvm("mushrooms", directory=tmp_path)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(
        DataError, match=r"data file for 'a9a' is missing: .*a9a.bz2 does not exist"
    ):
        verified_path("a9a", tmp_path)


def test_unknown_and_wrong_kind_names():
    with pytest.raises(DataError, match="unknown data set 'iris'; known data sets: a9a, mushrooms"):
        load_libsvm("iris")
    with pytest.raises(DataError, match="not a LIBSVM"):
        load_libsvm("tinyshakespeare")
    with pytest.raises(DataError, match="not a text corpus"):
        load_text("w8a")
    with pytest.raises(ValueError, match="val_fraction"):
        char_corpus(val_fraction=1.5)
