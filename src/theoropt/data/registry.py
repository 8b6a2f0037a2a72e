"""The shipped data files, their checksums, and a verified path lookup."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from theoropt.errors import DataError


@dataclass(frozen=True)
class DataFile:
    """One shipped file: its name in ``theoropt/data/files`` and its SHA-256."""

    filename: str
    sha256: str
    kind: str  # "libsvm" or "text"
    n_features: int | None = None


DATASETS: dict[str, DataFile] = {
    "mushrooms": DataFile(
        "mushrooms.bz2",
        "a039b9f09528a5dcfb76e0e3d32eb29b10aa6852485d90fc79cc8dffd3f192e2",
        "libsvm",
        112,
    ),
    "w8a": DataFile(
        "w8a.bz2", "d7fe0ec5079fb8fb0901f85ecbbf87e05698600dc0326e0edbe222426b438801", "libsvm", 300
    ),
    "a9a": DataFile(
        "a9a.bz2", "1dcb2b4aedea0b5a9e964192dd211675d16cf05ab6477ddd0702d87c1d1af8da", "libsvm", 123
    ),
    "tinyshakespeare": DataFile(
        "tinyshakespeare.txt",
        "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
        "text",
    ),
}

_verified: set[Path] = set()


def data_dir() -> Path:
    """The folder that holds the shipped files."""
    return Path(str(resources.files("theoropt.data") / "files"))


def describe(name: str) -> DataFile:
    """The registry entry of ``name``, or a :class:`DataError` listing the known names."""
    try:
        return DATASETS[name]
    except KeyError:
        known = ", ".join(sorted(DATASETS))
        raise DataError(f"unknown data set {name!r}; known data sets: {known}") from None


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verified_path(name: str, directory: Path | None = None) -> Path:
    """Path of data set ``name`` after checking that it exists and its checksum matches.

    ``directory`` overrides the package's own ``files`` folder (used by tests).
    """
    entry = describe(name)
    path = (directory or data_dir()) / entry.filename
    if not path.is_file():
        raise DataError(
            f"data file for {name!r} is missing: {path} does not exist; "
            "reinstall theoropt (the files ship inside the package)"
        )
    if path in _verified:
        return path
    actual = sha256_of(path)
    if actual != entry.sha256:
        raise DataError(
            f"data file for {name!r} is corrupt: {path} has SHA-256 {actual}, "
            f"expected {entry.sha256}; restore it from a fresh clone"
        )
    _verified.add(path)
    return path
