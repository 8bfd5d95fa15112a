"""What the load-time checks cost: loading every shipped checkpoint with and without its self-test.

    python bench/bench_selftest.py [--repeat 5] [--threads 1]

Loads each folder under checkpoints/ once to warm the caches, then `--repeat` times with the
self-test and `--repeat` times without (`load_checkpoint(..., run_selftest=False)`, which still
checks every JSON file field by field), alternating, and prints the best total of each and the
difference per model. The self-test's forward passes are timed on their own as well.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as `python bench/NAME.py` from anywhere

import argparse
import time

import torch

from rnn_demo import selftest
from rnn_demo.checkpoint import discover_checkpoints, load_checkpoint


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoints", default="checkpoints")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (the app's default is 1)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    folders = discover_checkpoints(args.checkpoints)
    loaded = [load_checkpoint(f) for f in folders]  # warm-up: imports, page cache, shared vocabulary
    best = {True: float("inf"), False: float("inf")}
    for _ in range(args.repeat):
        for run in (True, False):
            start = time.perf_counter()
            for f in folders:
                load_checkpoint(f, run_selftest=run)
            best[run] = min(best[run], time.perf_counter() - start)
    passes = float("inf")
    for _ in range(args.repeat):
        start = time.perf_counter()
        for ckpt in loaded:
            selftest.probabilities(ckpt.model, ckpt.vocab, [h["text"] for h in ckpt.selftest["headlines"]])
        passes = min(passes, time.perf_counter() - start)
    n = len(folders)
    print(f"{n} checkpoints, torch {torch.__version__}, {args.threads} thread(s), best of {args.repeat}:")
    print(f"  load with the self-test    {1e3 * best[True]:7.1f} ms")
    print(f"  load without it            {1e3 * best[False]:7.1f} ms")
    print(f"  self-test, per model       {1e3 * (best[True] - best[False]) / n:7.1f} ms "
          f"(its forward passes alone: {1e3 * passes / n:.1f} ms)")


if __name__ == "__main__":
    main()
