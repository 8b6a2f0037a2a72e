"""A character corpus built at run time from the running Python's standard-library sources.

Every CPython installation ships the ``.py`` sources of its standard library (tens of MB), which
makes an offline corpus large enough for a model of tens of millions of parameters to train on
for minutes without repeating much of it. Files are read in sorted order of their path relative
to the library root (third-party ``site-packages`` / ``dist-packages`` excluded), decoded as
UTF-8 (undecodable bytes replaced) and encoded with a fixed vocabulary: tab, newline, the 95
printable ASCII characters and one placeholder for every other character. A file belongs to the
validation part when the SHA-256 of its relative path is ``0 mod 20`` (about 5 % of the files,
the same ones on every installation that has them); its text follows the file separator
``\\n\\n``. The corpus differs between Python versions and installations (some omit the test
suite), so :class:`CorpusManifest` records the file list and the SHA-256 of the encoded text.

``python -m theoropt.data.python_corpus [--list]`` prints the manifest of this installation.
"""

from __future__ import annotations

import argparse
import hashlib
import platform
import sysconfig
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from theoropt.data.text import CharCorpus
from theoropt.errors import DataError

PLACEHOLDER = "\x00"
VOCAB = PLACEHOLDER + "\t\n" + "".join(chr(c) for c in range(32, 127))
"""98 symbols: the placeholder (any character outside the others), tab, newline, ASCII 32-126."""

VALIDATION_EVERY = 20
THIRD_PARTY = ("site-packages", "dist-packages")


@dataclass(frozen=True)
class CorpusManifest:
    """What a corpus was built from: enough to tell whether two runs saw the same text."""

    source: str
    files: tuple[str, ...]
    validation_files: tuple[str, ...]
    train_chars: int
    val_chars: int
    sha256: str

    def summary(self) -> dict[str, str | int]:
        """The manifest without the file lists (those are long): for configurations."""
        return dict(
            corpus_source=self.source,
            corpus_files=len(self.files),
            corpus_train_chars=self.train_chars,
            corpus_val_chars=self.val_chars,
            corpus_sha256=self.sha256,
        )


def stdlib_root() -> Path:
    """The standard-library directory of the running interpreter."""
    return Path(sysconfig.get_paths()["stdlib"])


def source_files(root: Path) -> list[Path]:
    """The ``.py`` files under ``root`` outside third-party package folders, sorted by path."""
    files = [
        p
        for p in root.rglob("*.py")
        if p.is_file() and not set(p.relative_to(root).parts) & set(THIRD_PARTY)
    ]
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def is_validation_file(relative: str) -> bool:
    """Whether the file at ``relative`` (POSIX path) belongs to the validation part."""
    return int(hashlib.sha256(relative.encode()).hexdigest(), 16) % VALIDATION_EVERY == 0


def encode(text: str) -> np.ndarray:
    """Character ids in :data:`VOCAB` (uint8); characters outside it map to the placeholder."""
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    lookup = np.zeros(128, dtype=np.uint8)
    lookup[[ord(c) for c in VOCAB]] = np.arange(len(VOCAB), dtype=np.uint8)
    ids = np.zeros(codes.shape, dtype=np.uint8)
    ascii_ = codes < 128
    ids[ascii_] = lookup[codes[ascii_]]
    return ids


def build_python_corpus(root: Path | None = None) -> tuple[CharCorpus, CorpusManifest]:
    """The corpus of the ``.py`` files under ``root`` (default: this interpreter's stdlib)."""
    root = stdlib_root() if root is None else Path(root)
    files = source_files(root)
    if not files:
        raise DataError(f"no .py files under {root}: cannot build the Python-source corpus")
    parts: dict[bool, list[str]] = {False: [], True: []}
    names = []
    for path in files:
        relative = path.relative_to(root).as_posix()
        names.append(relative)
        text = path.read_bytes().decode("utf-8", errors="replace")
        parts[is_validation_file(relative)].append(text + "\n\n")
    train, val = encode("".join(parts[False])), encode("".join(parts[True]))
    if min(train.size, val.size) == 0:
        raise DataError(f"the .py files under {root} give an empty train or validation part")
    digest = hashlib.sha256()
    for name in names:
        digest.update(name.encode() + b"\x00")
    digest.update(train.tobytes() + b"\x00" + val.tobytes())
    manifest = CorpusManifest(
        source=f"{platform.python_implementation()} {platform.python_version()} standard library",
        files=tuple(names),
        validation_files=tuple(n for n in names if is_validation_file(n)),
        train_chars=int(train.size),
        val_chars=int(val.size),
        sha256=digest.hexdigest(),
    )
    return CharCorpus(VOCAB, train, val), manifest


@cache
def python_corpus() -> tuple[CharCorpus, CorpusManifest]:
    """:func:`build_python_corpus` of this interpreter, built once per process."""
    return build_python_corpus()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--list", action="store_true", help="also list the files")
    args = parser.parse_args(argv)
    _, manifest = python_corpus()
    for key, value in manifest.summary().items():
        print(f"{key}: {value}")
    print(f"root: {stdlib_root()}")
    if args.list:
        for name in manifest.files:
            print(("val   " if name in manifest.validation_files else "train ") + name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
