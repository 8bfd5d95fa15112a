"""Batch classification of headlines with an exported model on onnxruntime (no torch needed).

    python -m export.classify --model exports/bilstm.onnx --input headlines.txt --output topics.csv

Input (by extension, or --format): plain text (one headline per line), CSV (a header row and
a text column, default "text"), or JSON lines (objects with a "text" field, or bare strings).
Output (by extension of --output, or --output-format): CSV or JSON lines with the line
number, text, predicted label and one probability per class; stdout (CSV) without --output.

A bad line (undecodable UTF-8, broken CSV/JSON, no text, an empty headline) stops the run with
its line number; with --skip-bad it is reported on stderr and skipped. The output is written
to a temporary file and moved into place only when the run succeeds.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from tqdm import tqdm

from .runtime import DEFAULT_MAX_LEN, DEVICES, OnnxPredictor, ProviderUnavailableError

INPUT_FORMATS = ("auto", "txt", "csv", "jsonl")
OUTPUT_FORMATS = ("auto", "csv", "jsonl")
_JSONL_SUFFIXES = {".jsonl", ".json", ".ndjson"}


class BadLineError(ValueError):
    """A malformed input line; the message names the file and line number."""


@dataclass
class Record:
    line: int
    text: str | None
    error: str | None = None


def input_format(path: Path, requested: str) -> str:
    if requested != "auto":
        return requested
    suffix = path.suffix.lower()
    return "csv" if suffix == ".csv" else "jsonl" if suffix in _JSONL_SUFFIXES else "txt"


def output_format(path: Path | None, requested: str) -> str:
    if requested != "auto":
        return requested
    return "jsonl" if path is not None and path.suffix.lower() in _JSONL_SUFFIXES else "csv"


def _check_text(text: str) -> str | None:
    return "empty headline" if not text.strip() else None


def read_records(path: Path, fmt: str, text_column: str = "text") -> Iterator[Record]:
    """Yield one Record per input line (CSV: per data row, one physical line each), in order."""
    header: list[str] | None = None
    column = 0
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as exc:
                yield Record(lineno, None, f"not valid UTF-8 ({exc.reason} at byte {exc.start})")
                continue
            if lineno == 1:
                line = line.lstrip("\ufeff")  # a UTF-8 byte-order mark is not part of the text
            if fmt == "txt":
                yield Record(lineno, line, _check_text(line))
            elif fmt == "jsonl":
                yield _jsonl_record(lineno, line, text_column)
            elif header is None:  # csv header
                header = next(csv.reader([line]), [])
                if text_column not in header:
                    raise BadLineError(f"{path}:{lineno}: CSV header has no column {text_column!r} "
                                       f"(columns: {', '.join(header) or 'none'}); use --text-column")
                column = header.index(text_column)
            else:
                rows = list(csv.reader([line]))
                if len(rows) != 1 or len(rows[0]) != len(header):
                    found = len(rows[0]) if len(rows) == 1 else "unparseable"
                    yield Record(lineno, None, f"expected {len(header)} CSV fields, found {found}")
                    continue
                text = rows[0][column]
                yield Record(lineno, text, _check_text(text))


def _jsonl_record(lineno: int, line: str, key: str) -> Record:
    try:
        value = json.loads(line)
    except json.JSONDecodeError as exc:
        return Record(lineno, None, f"not valid JSON ({exc.msg} at column {exc.colno})")
    if isinstance(value, dict):
        if key not in value:
            return Record(lineno, None, f"JSON object has no {key!r} field")
        value = value[key]
    if not isinstance(value, str):
        return Record(lineno, None, f"text must be a JSON string, got {type(value).__name__}")
    return Record(lineno, value, _check_text(value))


def count_lines(path: Path) -> int:
    with open(path, "rb") as fh:
        return sum(1 for _ in fh)


class Writer:
    """CSV or JSON-lines rows: line, text, label, one probability per class."""

    def __init__(self, stream: io.TextIOBase, fmt: str, class_names: tuple[str, ...]) -> None:
        self.stream, self.fmt, self.class_names = stream, fmt, class_names
        if fmt == "csv":
            self.csv = csv.writer(stream, lineterminator="\n")
            self.csv.writerow(["line", "text", "label", *[f"p_{c}" for c in class_names]])

    def write(self, records: list[Record], probs) -> None:
        for record, row in zip(records, probs):
            label = self.class_names[int(row.argmax())]
            if self.fmt == "csv":
                self.csv.writerow([record.line, record.text, label, *[f"{p:.6f}" for p in row]])
            else:
                out = {"line": record.line, "text": record.text, "label": label,
                       "probabilities": {c: round(float(p), 6) for c, p in zip(self.class_names, row)}}
                self.stream.write(json.dumps(out, ensure_ascii=False) + "\n")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m export.classify", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True, help="exported model, e.g. exports/bilstm.onnx")
    parser.add_argument("--input", type=Path, required=True, help="headlines: .txt, .csv or .jsonl")
    parser.add_argument("--output", type=Path, help="result file (.csv or .jsonl); default: CSV on stdout")
    parser.add_argument("--batch-size", type=int, default=256, help="headlines per onnxruntime call (default 256)")
    parser.add_argument("--device", choices=DEVICES, default="auto",
                        help="auto: CUDA if it really works, else CPU; cuda: fail if it does not (default auto)")
    parser.add_argument("--tokenizer", type=Path,
                        help="tokenizer.json or checkpoint folder (default: NAME.tokenizer.json beside the model)")
    parser.add_argument("--format", choices=INPUT_FORMATS, default="auto", help="input format (default: by extension)")
    parser.add_argument("--output-format", choices=OUTPUT_FORMATS, default="auto",
                        help="output format (default: by extension of --output, else csv)")
    parser.add_argument("--text-column", default="text", help="CSV column / JSON field with the text (default: text)")
    parser.add_argument("--skip-bad", action="store_true", help="report malformed lines and skip them instead of stopping")
    parser.add_argument("--max-len", type=int, default=DEFAULT_MAX_LEN,
                        help=f"truncate headlines to this many tokens (default {DEFAULT_MAX_LEN})")
    parser.add_argument("--threads", type=int, help="onnxruntime intra-op threads (default: onnxruntime's choice)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def classify(args: argparse.Namespace) -> int:
    predictor = OnnxPredictor(args.model, args.tokenizer, device=args.device, max_len=args.max_len,
                              threads=args.threads)
    print(predictor.model.describe(), file=sys.stderr)
    if predictor.model.pooling == "last_padded":
        print(f"note: {predictor.name} reads the state after padding (the lesson's exhibit), so its "
              "answers depend on which headlines share a batch; use --batch-size 1 for per-headline answers",
              file=sys.stderr)
    fmt = input_format(args.input, args.format)
    out_fmt = output_format(args.output, args.output_format)
    total = count_lines(args.input) - (1 if fmt == "csv" else 0)
    started = time.perf_counter()
    done = skipped = 0

    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.output.with_name(args.output.name + ".tmp")
        stream = open(tmp, "w", encoding="utf-8", newline="")
    else:
        tmp, stream = None, sys.stdout
    ok = False
    try:
        writer = Writer(stream, out_fmt, predictor.class_names)
        batch: list[Record] = []
        with tqdm(total=max(total, 0), unit="line", disable=args.no_progress, file=sys.stderr) as bar:
            for record in read_records(args.input, fmt, args.text_column):
                bar.update(1)
                if record.error is not None:
                    message = f"{args.input}:{record.line}: {record.error}"
                    if not args.skip_bad:
                        raise BadLineError(message + " (pass --skip-bad to skip bad lines)")
                    tqdm.write(f"skipped {message}", file=sys.stderr)
                    skipped += 1
                    continue
                batch.append(record)
                if len(batch) == args.batch_size:
                    writer.write(batch, predictor.predict_proba([r.text for r in batch]))
                    done += len(batch)
                    batch = []
            if batch:
                writer.write(batch, predictor.predict_proba([r.text for r in batch]))
                done += len(batch)
        ok = True
    finally:
        if tmp is not None:
            stream.close()
            if ok:
                os.replace(tmp, args.output)
            else:
                tmp.unlink(missing_ok=True)
    seconds = time.perf_counter() - started
    where = args.output if args.output is not None else "stdout"
    print(f"classified {done} headlines in {seconds:.2f} s on {predictor.provider}"
          f"{f', skipped {skipped} bad lines' if skipped else ''} -> {where}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.batch_size < 1:
        print("error: --batch-size must be >= 1", file=sys.stderr)
        return 2
    if not args.input.is_file():
        print(f"error: {args.input}: input file not found", file=sys.stderr)
        return 2
    try:
        return classify(args)
    except BadLineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (ProviderUnavailableError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
