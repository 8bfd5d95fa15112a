"""Evaluation CLI: accuracy, per-class precision/recall/F1 and the confusion matrix.

`python -m rnn_demo.evaluate --checkpoint checkpoints/NAME --data PATH [--json] [--save]`
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from .batching import EncodedDataset
from .checkpoint import TEST_METRICS_FILE, Checkpoint, CheckpointError, load_checkpoint
from .data import DataError, read_dataset
from .tokenizer import file_sha256
from .train import evaluate_encoded


def classification_report(labels: torch.Tensor, preds: torch.Tensor, class_names) -> dict:
    """Accuracy, per-class precision/recall/F1/support and confusion[true][pred] as plain numbers."""
    k = len(class_names)
    confusion = torch.bincount(labels * k + preds, minlength=k * k).view(k, k)
    per_class = {}
    for i, name in enumerate(class_names):
        tp = int(confusion[i, i])
        predicted, actual = int(confusion[:, i].sum()), int(confusion[i, :].sum())
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[name] = {"precision": round(precision, 6), "recall": round(recall, 6),
                           "f1": round(f1, 6), "support": actual}
    n = int(labels.numel())
    return {
        "n": n,
        "accuracy": round(int(confusion.diag().sum()) / n, 6) if n else 0.0,
        "macro_f1": round(sum(c["f1"] for c in per_class.values()) / k, 6),
        "per_class": per_class,
        "confusion": confusion.tolist(),
        "class_names": list(class_names),
    }


def evaluate_checkpoint(ckpt: Checkpoint, data_path: str | Path, skip_bad: bool = False,
                        max_len: int | None = None) -> dict:
    dataset = read_dataset(data_path, skip_bad=skip_bad)
    max_len = max_len or ckpt.metrics.get("settings", {}).get("max_len", 200)
    encoded = EncodedDataset(ckpt.vocab, dataset.texts, dataset.labels, max_len)
    start = time.perf_counter()
    _, _, preds = evaluate_encoded(ckpt.model, encoded, torch.device("cpu"))
    seconds = time.perf_counter() - start
    report = classification_report(encoded.labels, preds, ckpt.class_names)
    report.update({
        "checkpoint": ckpt.name,
        "data": {"path": Path(data_path).name, "rows": len(dataset), "sha256": file_sha256(data_path),
                 "skipped_rows": len(dataset.report.skipped)},
        "seconds": round(seconds, 3),
    })
    return report


def format_report(report: dict) -> str:
    names = report["class_names"]
    lines = [f"{report['checkpoint']}: accuracy {report['accuracy']:.4f} on {report['n']} rows "
             f"({report['data']['path']}), macro F1 {report['macro_f1']:.4f}", "",
             f"{'class':<10} {'precision':>9} {'recall':>7} {'f1':>7} {'support':>8}"]
    for name in names:
        c = report["per_class"][name]
        lines.append(f"{name:<10} {c['precision']:>9.4f} {c['recall']:>7.4f} {c['f1']:>7.4f} {c['support']:>8}")
    width = max(len(n) for n in names) + 1
    lines += ["", "confusion (rows: true, columns: predicted)", " " * width + " ".join(f"{n[:8]:>8}" for n in names)]
    for name, row in zip(names, report["confusion"]):
        lines.append(f"{name:<{width}}" + " ".join(f"{v:>8}" for v in row))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m rnn_demo.evaluate", description=__doc__)
    p.add_argument("--checkpoint", required=True, help="checkpoint folder (config.json, model.safetensors, ...)")
    p.add_argument("--data", required=True, help="labelled AG News file: CSV, JSON lines or parquet")
    p.add_argument("--json", action="store_true", help="print exactly one JSON object instead of a table")
    p.add_argument("--save", action="store_true", help=f"also write the report to CHECKPOINT/{TEST_METRICS_FILE}")
    p.add_argument("--skip-bad", action="store_true", help="skip malformed rows (counted) instead of stopping")
    p.add_argument("--max-len", type=int, default=None, help="tokens kept per text (default: as in training)")
    args = p.parse_args(argv)
    try:
        ckpt = load_checkpoint(args.checkpoint)
        report = evaluate_checkpoint(ckpt, args.data, skip_bad=args.skip_bad, max_len=args.max_len)
    except (CheckpointError, DataError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.save:
        (Path(args.checkpoint) / TEST_METRICS_FILE).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report) if args.json else format_report(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
