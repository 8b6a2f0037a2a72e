"""The code in README.md and docs/*.md works as a reader copies it.

Python blocks (```python fences), one test each, with ids such as ``optim.md-block2`` (the third
python block of docs/optim.md):

* **Examples run**, each in a fresh namespace holding :func:`example_namespace` — the names that
  illustrative fragments take from the reader's own program (``model``, ``a, b, M, reg``,
  ``x_paired`` ...), small and fresh for every block. It never holds a theoropt name: each block
  imports what it uses, so it also runs when copied alone. Blocks run in a temporary working
  directory (checkpoints land there), with ``UserWarning`` and ``RuntimeWarning`` raised as
  errors: a warning that a copied example prints is a defect of the example. The blocks of
  docs/distributed.md, written for code started by ``torchrun``, run inside a one-process gloo
  group (``torchrun --nproc-per-node 1``).
* **Sizes.** Every example runs as written, with one explicit exception: EBiEOT's default
  training lengths (the authors' 25,001 steps, ours 2,000) are patched to ``FIT_STEPS``. The docs
  show the defaults a user should run; the test checks the calls, not the training length, and
  cannot spend minutes on it. The whole module takes about 20 s on the 2-core CPU.
* **Stated results.** Where a block's comments state a result (a shape, a type, a fit), a check
  in ``CLAIMS`` reads it from the block's namespace after the run.
* **Blocks that cannot run** are preceded in the Markdown by
  ``<!-- example not run by tests: REASON -->``; the reason must be given, and the block's syntax
  and its theoropt imports are still checked.
* **Signature listings** are preceded by ``<!-- signatures of MODULE: ... -->``; each
  ``Name(parameters)`` entry is compared with the code's signature (names, positional or
  keyword-only, defaults; ``...`` stands for parameters left out).

Shell blocks (fences with no language, bash, sh, shell, console): every ``theoropt`` (or
``python -m theoropt``) command is parsed by the CLI's own parser and must name a known
experiment (or ``all``, or an upper-case placeholder such as ``NAME``); every
``-m theoropt.optim.train_distributed`` command is parsed by that script's parser. Nothing runs.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import itertools
import re
import shlex
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
import torch
import torch.distributed as dist
from torch import nn

from tests.torch_threads import one_torch_thread
from theoropt.bench.registry import all_experiments
from theoropt.cli import ALL, build_parser
from theoropt.optim import SoftMuon, split_params, train_distributed
from theoropt.ot._ebieot_schemes import BLOCK_DEFAULTS, PAPER_DEFAULTS
from theoropt.ot.lazy import LazyPlan

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)\s*$")
SHELL_LANGUAGES = {"", "bash", "sh", "shell", "console"}
NOT_RUN = re.compile(r"<!--\s*example not run by tests\b:?(?P<reason>.*?)-->")
SIGNATURES = re.compile(r"<!--\s*signatures of (?P<module>[\w.]+)\b.*?-->")
UNDER_TORCHRUN = {"distributed.md"}
FIT_STEPS = 50


@dataclass(frozen=True)
class Block:
    """A fenced code block of a Markdown file."""

    path: Path
    line: int  # of the opening fence, 1-based
    language: str
    source: str
    comment: str  # the HTML comment on the line right before the fence, or ""
    index: int  # among the blocks of the same language in the file

    @property
    def id(self) -> str:
        return f"{self.path.name}-block{self.index}"


def fenced_blocks(path: Path) -> list[Block]:
    """The fenced blocks of ``path`` (fences at the start of a line), in order."""
    lines = path.read_text().splitlines()
    blocks: list[Block] = []
    counts: Counter[str] = Counter()
    opening: tuple[int, str] | None = None
    for number, line in enumerate(lines, start=1):
        fence = FENCE.match(line)
        if fence is None:
            continue
        if opening is None:
            opening = (number, fence.group(1))
            continue
        start, language = opening
        before = lines[start - 2].strip() if start > 1 else ""
        comment = before if before.startswith("<!--") else ""
        source = "\n".join(lines[start : number - 1]) + "\n"
        blocks.append(Block(path, start, language, source, comment, counts[language]))
        counts[language] += 1
        opening = None
    assert opening is None, f"{path.name}: the fence of line {opening[0]} is never closed"
    return blocks


BLOCKS = [block for path in DOCUMENTS for block in fenced_blocks(path)]
PYTHON_BLOCKS = [block for block in BLOCKS if block.language == "python"]


# ------------------------------------------------------------------------------- the prelude
def tiny_mixture_of_experts() -> nn.Module:
    """An embedding, one block with a router (a matrix) and a stack of expert matrices, and a
    head: every kind of parameter :func:`split_params` tells apart, under the names the
    docs' patterns use (``blocks.0.router.weight``, ``blocks.0.experts.w_in``)."""
    block = nn.Module()
    block.router = nn.Linear(8, 2)
    block.experts = nn.ParameterDict(
        {
            "w_in": nn.Parameter(0.1 * torch.randn(2, 16, 8)),
            "w_out": nn.Parameter(0.1 * torch.randn(2, 8, 16)),
        }
    )
    model = nn.Module()
    model.embed = nn.Embedding(16, 8)
    model.blocks = nn.ModuleList([block])
    model.head = nn.Linear(8, 16)
    return model


def example_namespace() -> dict[str, Any]:
    """The reader's own objects that the docs' fragments use, small and seeded.

    ``model`` (:func:`tiny_mixture_of_experts`) and ``optimizer`` (a SoftMuon over it that has
    taken one step, so that a checkpoint holds momentum); ``G`` a batch of 2 matrices 4 x 6;
    ``fun``, ``grad``, ``x0`` a convex quadratic in 10 variables; for OT two point clouds
    ``x``, ``y`` of 30 points in 2-D (``y`` is ``x`` moved, so ``x[:8], y[:8]`` are pairs),
    uniform weights ``a``, ``b``, their squared-distance cost ``M``, ``reg``, a vector ``v``
    for ``plan.dot(v)`` and a batch of 2 problems ``a_batch``, ``b_batch``, ``M_batch``; for
    EBiEOT ``x_paired``, ``y_paired`` (8 pairs) and ``x_unpaired``, ``y_unpaired``.
    """
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = tiny_mixture_of_experts()
    optimizer = SoftMuon(split_params(model), lr=0.02, total_steps=10)
    for parameter in model.parameters():
        parameter.grad = torch.randn_like(parameter)
    optimizer.step()
    curvature = np.linspace(1.0, 10.0, 10)
    n = 30
    x = rng.random((n, 2))
    y = x + 0.5 + 0.1 * rng.standard_normal((n, 2))
    M = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    uniform = np.full(n, 1.0 / n)
    return {
        "model": model,
        "optimizer": optimizer,
        "G": torch.randn(2, 4, 6),
        "fun": lambda z: 0.5 * np.sum(curvature * z**2) - np.sum(z),
        "grad": lambda z: curvature * z - 1.0,
        "x0": np.zeros(10),
        "x": x,
        "y": y,
        "a": uniform,
        "b": uniform.copy(),
        "M": M,
        "reg": 0.1,
        "v": np.ones(n),
        "a_batch": np.stack([uniform, uniform]),
        "b_batch": np.stack([uniform, uniform]),
        "M_batch": np.stack([M, 2.0 * M]),
        "x_paired": x[:8],
        "y_paired": y[:8],
        "x_unpaired": x,
        "y_unpaired": y,
    }


@pytest.fixture(autouse=True)
def single_torch_thread() -> Iterator[None]:
    """The examples' tensors are tiny: one intra-op thread is several times faster here."""
    with one_torch_thread():
        yield


@pytest.fixture
def one_process_group(tmp_path: Path) -> Iterator[None]:
    """A gloo process group of one rank, as ``torchrun --nproc-per-node 1`` gives a script."""
    store = dist.FileStore(str(tmp_path / "process-group-store"), 1)
    dist.init_process_group("gloo", store=store, rank=0, world_size=1)
    yield
    dist.destroy_process_group()


# ---------------------------------------------------------------------- results stated in comments
def returns_a_lazy_plan(namespace: dict[str, Any]) -> None:
    """README: ``sinkhorn(None, None, (x, y), reg, cost="sqeuclidean")`` gives "a LazyPlan"."""
    assert isinstance(namespace["plan"], LazyPlan)


def ships_the_stated_data(namespace: dict[str, Any]) -> None:
    """README: mushrooms is a scipy CSR 8124 x 112 with labels in {-1, +1}; the corpus is
    character ids split into train and validation."""
    X, y, corpus = namespace["X"], namespace["y"], namespace["corpus"]
    assert sp.issparse(X) and X.format == "csr" and X.shape == (8124, 112)
    assert set(np.unique(y)) == {-1.0, 1.0}
    for part in (corpus.train, corpus.val):
        assert len(part) > 0 and 0 <= part.min() and part.max() < corpus.vocab_size


def keeps_the_tensor_type(namespace: dict[str, Any]) -> None:
    """convex.md: with torch tensors "the tensor's dtype and device are kept"."""
    result = namespace["res"]
    assert result.success and isinstance(result.x, torch.Tensor)
    assert result.x.dtype == torch.float64 and result.x.device.type == "cpu"


def sends_the_router_to_adamw(namespace: dict[str, Any]) -> None:
    """distributed.md: the name patterns override the rule by shape (the router's weight is a
    matrix by shape, AdamW's by the pattern)."""
    model, groups = namespace["model"], namespace["groups"]
    names = {id(p): name for name, p in model.named_parameters()}
    adamw = {names[id(p)] for group in groups if not group["use_muon"] for p in group["params"]}
    stacked = {names[id(p)] for group in groups if group.get("stacked") for p in group["params"]}
    assert {"blocks.0.router.weight", "blocks.0.router.bias"} <= adamw
    assert stacked == {"blocks.0.experts.w_in", "blocks.0.experts.w_out"}


def gives_one_loss_per_problem(namespace: dict[str, Any]) -> None:
    """ot.md: batched ``sinkhorn2`` maps (B, n), (B, m), (B, n, m) to (B,)."""
    assert np.shape(namespace["losses"]) == (len(namespace["a_batch"]),)


def fits_the_point_cloud(namespace: dict[str, Any]) -> None:
    """ot.md: the divergence falls from 0.22 to about 7e-5 in 20 steps."""
    history = namespace["history"]
    assert len(history) == 20 and history[-1] < 0.01 * history[0]


def gives_the_stated_shapes(namespace: dict[str, Any]) -> None:
    """ot.md: samples (len(x), 100, dim_y); log pi(y_i | x_i) per row; the mixture's log
    weights (n, K) (normalised in log space), means (n, K, dim_y), variances (K, dim_y)."""
    x, y = namespace["x"], namespace["y"]
    n, dim_y = y.shape
    assert namespace["samples"].shape == (len(x), 100, dim_y)
    assert namespace["logp"].shape == (n,)
    log_weights, means, variances = (namespace[k] for k in ("log_weights", "means", "variances"))
    k = log_weights.shape[1]
    assert log_weights.shape == (n, k) and means.shape == (n, k, dim_y)
    assert variances.shape == (k, dim_y)
    np.testing.assert_allclose(np.logaddexp.reduce(log_weights, axis=1), 0.0, atol=1e-9)


CLAIMS: dict[str, Callable[[dict[str, Any]], None]] = {
    "README.md-block5": returns_a_lazy_plan,
    "README.md-block8": ships_the_stated_data,
    "convex.md-block1": keeps_the_tensor_type,
    "distributed.md-block1": sends_the_router_to_adamw,
    "ot.md-block2": gives_one_loss_per_problem,
    "ot.md-block3": fits_the_point_cloud,
    "ot.md-block4": gives_the_stated_shapes,
}


# --------------------------------------------------------------------------- python blocks
def run_example(block: Block) -> dict[str, Any]:
    """Execute ``block`` in a fresh prelude namespace; return the namespace."""
    namespace = example_namespace()
    code = compile(block.source, f"{block.path.name}:{block.line}", "exec")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        warnings.simplefilter("error", RuntimeWarning)
        exec(code, namespace)
    return namespace


def check_theoropt_imports(tree: ast.AST) -> None:
    """Every theoropt module and name that ``tree`` imports exists."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "theoropt":
                    importlib.import_module(alias.name)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "theoropt":
            module = importlib.import_module(node.module)
            missing = [alias.name for alias in node.names if not hasattr(module, alias.name)]
            assert not missing, f"{node.module} has no {', '.join(missing)}"


def documented_signatures(source: str) -> Iterator[tuple[str, ast.arguments, bool]]:
    """``(name, parameters, partial)`` for each ``Name(parameters)`` entry of a listing (an
    entry starts at the beginning of a line); ``...`` stands for parameters left out."""
    for entry in re.split(r"\n(?=\w+\()", source.strip()):
        trimmed = re.sub(r"\.\.\.\s*,\s*|,\s*\.\.\.(?=\s*\)\s*$)", "", entry.strip())
        definition = ast.parse(f"def {trimmed}: pass").body[0]
        assert isinstance(definition, ast.FunctionDef)
        yield definition.name, definition.args, trimmed != entry.strip()


def signature_differences(
    real: inspect.Signature, documented: ast.arguments, partial: bool
) -> list[str]:
    """How a documented parameter list differs from ``real`` (empty when it agrees)."""
    assert documented.vararg is None and documented.kwarg is None, "*args / **kwargs listed"
    positional = documented.posonlyargs + documented.args
    defaults = [None] * (len(positional) - len(documented.defaults)) + documented.defaults
    listed = [
        (a, d, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        for a, d in zip(positional, defaults, strict=True)
    ]
    listed += [
        (a, d, inspect.Parameter.KEYWORD_ONLY)
        for a, d in zip(documented.kwonlyargs, documented.kw_defaults, strict=True)
    ]
    differences = []
    for argument, default, kind in listed:
        parameter = real.parameters.get(argument.arg)
        if parameter is None:
            differences.append(f"{argument.arg}: not a parameter")
            continue
        if parameter.kind is not kind:
            differences.append(f"{argument.arg}: {parameter.kind.description} in the code")
        stated = inspect.Parameter.empty if default is None else ast.literal_eval(default)
        if stated != parameter.default:
            differences.append(f"{argument.arg}: default {parameter.default!r} in the code")
    listed_positional = [
        a.arg for a, _, kind in listed if kind is not inspect.Parameter.KEYWORD_ONLY
    ]
    real_positional = [
        name
        for name, p in real.parameters.items()
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    if not partial and listed_positional != real_positional:
        differences.append(f"positional parameters {real_positional} in the code")
    unlisted = set(real.parameters) - {a.arg for a, _, _ in listed}
    if not partial and unlisted:
        differences.append(f"not listed: {', '.join(sorted(unlisted))} (or end with ...)")
    return differences


def check_signature_listing(block: Block, module_name: str) -> None:
    module = importlib.import_module(module_name)
    for name, parameters, partial in documented_signatures(block.source):
        differences = signature_differences(
            inspect.signature(getattr(module, name)), parameters, partial
        )
        assert not differences, f"{module_name}.{name}: " + "; ".join(differences)


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=lambda block: block.id)
def test_python_block(
    block: Block, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Runs unless marked; a marked block gives a reason (and parses) or matches the code."""
    not_run, signatures = NOT_RUN.search(block.comment), SIGNATURES.search(block.comment)
    if not_run:
        assert not_run.group("reason").strip(), f"{block.id}: say why the example is not run"
        check_theoropt_imports(ast.parse(block.source))
        return
    if signatures:
        check_signature_listing(block, signatures.group("module"))
        return
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(PAPER_DEFAULTS, "steps", FIT_STEPS)
    monkeypatch.setitem(BLOCK_DEFAULTS, "steps", FIT_STEPS)
    if block.path.name in UNDER_TORCHRUN:
        request.getfixturevalue("one_process_group")
    namespace = run_example(block)
    if block.id in CLAIMS:
        CLAIMS[block.id](namespace)


def test_extraction_finds_every_block_and_claim() -> None:
    """Every ```python fence is parsed (none indented out of reach), and every stated result
    in ``CLAIMS`` belongs to a block that runs."""
    for path in DOCUMENTS:
        found = [block for block in PYTHON_BLOCKS if block.path == path]
        assert len(found) == path.read_text().count("```python"), path.name
    runnable = {
        block.id
        for block in PYTHON_BLOCKS
        if not (NOT_RUN.search(block.comment) or SIGNATURES.search(block.comment))
    }
    assert set(CLAIMS) <= runnable
    assert len(CLI_COMMANDS) >= 10


# ---------------------------------------------------------------------------- shell blocks
def shell_commands(block: Block) -> Iterator[tuple[int, list[str]]]:
    """``(line, words)`` of each command of a shell block: continued lines joined, comments
    dropped, ``&&`` chains split."""
    pending: list[str] = []
    for offset, line in enumerate(block.source.splitlines()):
        if not pending:
            start = block.line + 1 + offset
        if line.rstrip().endswith("\\"):
            pending.append(line.rstrip()[:-1])
            continue
        words = shlex.split(" ".join([*pending, line]), comments=True)
        pending = []
        for is_and, command in itertools.groupby(words, key=lambda word: word == "&&"):
            if not is_and:
                yield start, list(command)


def cli_invocation(words: list[str]) -> tuple[str, list[str]] | None:
    """``(program, arguments)`` of a theoropt command line, or None for other programs."""
    if words[0] == "theoropt":
        return "theoropt", words[1:]
    if words[:3] == ["python", "-m", "theoropt"]:
        return "theoropt", words[3:]
    if "-m" in words:
        module = words.index("-m") + 1
        if words[module : module + 1] == ["theoropt.optim.train_distributed"]:
            return "train_distributed", words[module + 1 :]
    return None


CLI_COMMANDS = [
    pytest.param(*invocation, id=f"{block.path.name}-line{line}")
    for block in BLOCKS
    if block.language in SHELL_LANGUAGES
    for line, words in shell_commands(block)
    if (invocation := cli_invocation(words)) is not None
]


@pytest.mark.parametrize(("program", "arguments"), CLI_COMMANDS)
def test_cli_command_parses(
    program: str, arguments: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Each documented subcommand and option exists and takes the value given (parsed only)."""
    try:
        if program == "train_distributed":
            train_distributed.parse_args(arguments)
            return
        parsed = build_parser().parse_args(arguments)
    except SystemExit:
        pytest.fail(f"{program} {shlex.join(arguments)}: {capsys.readouterr().err}")
    if parsed.command == "run":
        assert parsed.name in (ALL, *all_experiments()) or parsed.name.isupper(), parsed.name
