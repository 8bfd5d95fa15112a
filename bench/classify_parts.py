"""Where the batch classifier's time goes, part by part, and the layouts export.classify chose from.

    python bench/classify_parts.py                          # lesson-lstm-packed, 121,600 rows
    python bench/classify_parts.py --model bilstm --threads 2

Self-contained like bench_classify.py (exports the checkpoint and builds test.csv x --repeat as
JSON lines in a temporary folder), but in one process, so each part is timed alone:

  read         export.classify's JSON-lines reader over the whole file
  tokenize     the fast tokenizer, chunks of 4,096 rows
  model        length-sorted batches, tokens ready, in these layouts:
                 one session with --threads intra-op threads, batches of 64 / 256 / 4,096
                 one single-threaded session per thread (--threads threads), batches of 64 / 256
                 one single-threaded session shared by --threads threads, batches of 64
  write        the CSV of all rows: csv.writer.writerows (what export.classify did before)
               against export.batch_io.Writer (one %-format per block)

The end-to-end numbers, threads against worker processes, are bench_classify.py's.
"""
from __future__ import annotations

import argparse
import csv
import io
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from bench_classify import DEFAULT_DATA, build_input  # noqa: E402
from export.batch_io import Writer, read_rows  # noqa: E402
from export.onnx_export import export_checkpoint  # noqa: E402
from export.runtime import OnnxModel  # noqa: E402
from export.workers import classify_encoded  # noqa: E402
from rnn_demo.checkpoint import load_checkpoint  # noqa: E402
from rnn_demo.fast_tokenizer import fast_encoder  # noqa: E402

CHUNK = 4096


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def in_threads(models: list[OnnxModel], encoded: list, batch: int) -> float:
    """Chunks k, k+w, k+2w, ... on thread k (w = len(models)), thread k running models[k]."""
    def work(k: int) -> None:
        for e in encoded[k::len(models)]:
            classify_encoded(models[k], e, batch)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(len(models))]
    return timed(lambda: ([t.start() for t in threads], [t.join() for t in threads]))


def writerows_reference(stream, class_names, lines, texts, probs) -> None:
    """The CSV writing export.classify did before (csv.writer.writerows per block of 1,024)."""
    out = csv.writer(stream, lineterminator="\n")
    names = np.array(class_names, dtype=object)
    for start in range(0, len(lines), 1024):
        p = probs[start: start + 1024]
        n, classes = p.shape
        labels = names[p.argmax(axis=1)].tolist()
        cells = (("%.6f\n" * (n * classes)) % tuple(p.ravel().tolist())).split("\n")
        out.writerows(zip(lines[start: start + n], texts[start: start + n], labels,
                          *[cells[c::classes][:n] for c in range(classes)]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="lesson-lstm-packed", help="checkpoint name (default lesson-lstm-packed)")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="AG News test.csv")
    ap.add_argument("--repeat", type=int, default=16, help="copies of test.csv (default 16: 121,600 rows)")
    ap.add_argument("--threads", type=int, default=2, help="threads / sessions (default 2)")
    args = ap.parse_args(argv)
    if not args.data.is_file():
        print(f"error: {args.data} not found (AG News test.csv; pass --data)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="classify_parts.") as tmp_name:
        tmp = Path(tmp_name)
        src = tmp / "headlines.jsonl"
        n = build_input(args.data, src, args.repeat)
        onnx_path = export_checkpoint(load_checkpoint(ROOT / "checkpoints" / args.model), tmp / "m.onnx").path
        rows: list = []
        read_s = timed(lambda: rows.extend(read_rows(src, "jsonl")))
        lines, texts = [r[0] for r in rows], [r[1] for r in rows]
        one = OnnxModel(onnx_path, "cpu", threads=1)
        encoder = fast_encoder(load_checkpoint(ROOT / "checkpoints" / args.model).vocab)
        encoded: list = []
        tokenize_s = timed(lambda: encoded.extend(encoder.encode(texts[i: i + CHUNK], 200)
                                                  for i in range(0, n, CHUNK)))
        results = [("read (JSON lines)", read_s), ("tokenize (fast tokenizer, one thread)", tokenize_s)]
        pooled = OnnxModel(onnx_path, "cpu", threads=args.threads)
        classify_encoded(pooled, encoded[0], 64)  # warm-up
        for batch in (64, 256, 4096):
            results.append((f"model: one {args.threads}-thread session, batches of {batch}",
                            timed(lambda: [classify_encoded(pooled, e, batch) for e in encoded])))
        sessions = [one] + [OnnxModel(onnx_path, "cpu", threads=1) for _ in range(args.threads - 1)]
        for batch in (64, 256):
            results.append((f"model: {args.threads} threads, a 1-thread session each, batches of {batch}",
                            in_threads(sessions, encoded, batch)))
        results.append((f"model: {args.threads} threads sharing one 1-thread session, batches of 64",
                        in_threads([one] * args.threads, encoded, 64)))
        probs = np.concatenate([classify_encoded(one, e, 64) for e in encoded])
        names = one.class_names
        results.append(("write CSV: csv.writer.writerows (before)",
                        timed(lambda: writerows_reference(io.StringIO(), names, lines, texts, probs))))
        results.append(("write CSV: export.batch_io.Writer",
                        timed(lambda: Writer(io.StringIO(), "csv", names).write(lines, texts, probs))))
    print(f"{args.model}, {n:,} rows (test.csv x {args.repeat}), {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f} at the end")
    print("| part | seconds |\n|---|---:|")
    for label, seconds in results:
        print(f"| {label} | {seconds:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
