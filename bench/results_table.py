"""Print the README's table of shipped models from the files in checkpoints/ (markdown), in the lesson's order.

    python bench/results_table.py

Test accuracy and F1 come from each checkpoint's test_metrics.json, written by
`python -m rnn_demo.evaluate --checkpoint checkpoints/NAME --data .../test.csv --save`;
training figures from metrics.json; sizes from the files themselves.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as `python bench/NAME.py` from anywhere

import argparse
import json

from rnn_demo.catalog import lesson_order
from rnn_demo.checkpoint import discover_checkpoints


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoints", default="checkpoints", help="folder of checkpoints")
    args = p.parse_args()
    print("| model | architecture | parameters | size (MB) | best epoch | val acc | **test acc** | macro F1 | train time (s) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    total = 0
    folders = {f.name: f for f in discover_checkpoints(args.checkpoints)}
    for folder in (folders[name] for name in lesson_order(folders)):
        config = json.loads((folder / "config.json").read_text())
        metrics = json.loads((folder / "metrics.json").read_text())
        test_path = folder / "test_metrics.json"
        test = json.loads(test_path.read_text()) if test_path.exists() else {}
        m = config["model"]
        arch = (f"{'bi-' if m['bidirectional'] else ''}{m['cell'].upper()} {m['num_layers']}x{m['hidden_size']}, "
                f"emb {m['embed_dim']}, {m['pooling']}, dropout {m['dropout']}")
        if m["cell"] == "bag":  # no recurrent layer: mean of the embeddings -> linear
            arch = f"bag of embeddings (mean), emb {m['embed_dim']}, no recurrence"
        if metrics.get("settings", {}).get("batching") == "random":
            arch += f", random batches of {metrics['settings']['batch_size']}"
        size = sum(f.stat().st_size for f in folder.iterdir() if f.is_file())
        total += size
        acc = f"**{test['accuracy']:.4f}**" if test else "n/a"
        f1 = f"{test['macro_f1']:.4f}" if test else "n/a"
        print(f"| `{folder.name}` | {arch} | {config['num_parameters']:,} | {size / 1e6:.2f} | "
              f"{metrics['best_epoch']}/{len(metrics['epochs'])} | {metrics['best_val_accuracy']:.4f} | {acc} | {f1} | "
              f"{metrics['train_seconds']:.0f} |")
    print(f"\nAll checkpoints together: {total / 1e6:.1f} MB.")


if __name__ == "__main__":
    main()
