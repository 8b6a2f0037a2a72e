"""Which difference separates the authors' Muon from ours: one-factor ablations on char-lm.

Trains the character GPT of the ``char-lm`` experiment with Muon (exact), Muon (paper) and the
one-difference methods of :data:`theoropt.optim.training.MUON_ABLATIONS` at lr 0.03 for 600
steps, per seed, and prints each method's final validation loss minus Muon (exact)'s, paired by
seed (mean ± standard error). Every finished run is appended to ``--out`` (JSON lines) and
skipped when the command is run again, so an interrupted study resumes.
Run: ``python -m benchmarks.muon_ablation [--size small|default] [--seeds 0,1,2] [--out F]``.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import torch

from theoropt.data.text import char_corpus
from theoropt.optim.training import MUON_ABLATIONS, TrainConfig, train_char_lm

SIZES = {
    "small": dict(n_layer=2, n_head=4, d_model=64, context=64),
    "default": dict(n_layer=4, n_head=4, d_model=128, context=128),
}
"""``small``: the quick mode's model; ``default``: the default mode's."""
BASELINE = "muon"
METHODS = (BASELINE, "muon-paper", *MUON_ABLATIONS)


def _done(path: Path) -> dict[tuple[str, str, int], float]:
    if not path.exists():
        return {}
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {(r["size"], r["method"], r["seed"]): r["final"] for r in rows}


def _summary(finals: dict[tuple[str, str, int], float], size: str) -> list[str]:
    base = {seed: v for (s, m, seed), v in finals.items() if s == size and m == BASELINE}
    lines = [f"{size}: final validation loss minus Muon (exact), paired by seed"]
    for method in METHODS[1:]:
        diffs = np.array(
            [
                v - base[seed]
                for (s, m, seed), v in finals.items()
                if s == size and m == method and seed in base
            ]
        )
        if len(diffs) < 2:
            continue
        se = diffs.std(ddof=1) / math.sqrt(len(diffs))
        lines.append(
            f"  {method:28s} {diffs.mean():+.4f} ± {se:.4f}  "
            f"(below in {int((diffs < 0).sum())} of {len(diffs)} seeds)"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("muon_ablation.jsonl"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    corpus = char_corpus()
    finals = _done(args.out)
    for seed in (int(s) for s in args.seeds.split(",")):
        for method in args.methods.split(","):
            if (args.size, method, seed) in finals:
                continue
            config = TrainConfig(
                method=method, lr=0.03, steps=600, eval_every=50, **SIZES[args.size]
            )
            metrics, _ = train_char_lm(corpus, config, seed)
            finals[(args.size, method, seed)] = metrics["final_val_loss"]
            record = dict(size=args.size, method=method, seed=seed, final=metrics["final_val_loss"])
            with args.out.open("a") as f:
                f.write(json.dumps(record) + "\n")
            print(f"{method} seed {seed}: {record['final']:.4f}", flush=True)
    print("\n".join(_summary(finals, args.size)))


if __name__ == "__main__":
    main()
