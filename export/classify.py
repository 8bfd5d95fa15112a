"""Batch classification of headlines with an exported model on onnxruntime (no torch needed).

    python -m export.classify --model exports/bilstm.onnx --input headlines.jsonl --output topics.csv

Input (by extension, or --format): plain text (one headline per line), CSV (a header row and
a text column, default "text"; quoted fields may span lines), or JSON lines (objects with a
"text" field, or bare strings). Output (by extension of --output, or --output-format): CSV or
JSON lines with the input line number (for CSV input: the line where the row starts), text,
predicted label and one probability per class, in input order.

How it runs: the input is read as a stream in chunks of --chunk-size rows, so memory stays
bounded whatever the file size. Each chunk is tokenized at once (rnn_demo.fast_tokenizer),
sorted by length, cut into batches of --batch-size headlines of about the same length (far
less padding for the recurrent kernel to run through), and its results are put back in input
order before they are written. On the CPU, --threads worker processes (default: one per core
this process may use, at most 8) each tokenize and run whole chunks on their own single-threaded
onnxruntime session, while this process reads the next chunks and writes finished ones in
input order (export.workers says why processes and small batches). On CUDA one session in a
background thread runs big batches.

Data safety: a bad line (undecodable UTF-8, broken CSV/JSON, no text, an empty headline)
stops the run with its line number; with --skip-bad it is reported on stderr and skipped. The
run fails when no row is valid, and says so for an empty input. Results go to a temporary file
beside --output that replaces it only when the run succeeds; an --output that is the input
(by any path) is refused, and an existing one is replaced only with --overwrite. Without
--output the results reach stdout only after the whole input was classified (they wait in a
temporary file); --stream prints them chunk by chunk instead, so a later bad line can stop a
run after some results were printed.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections import deque
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from itertools import chain, repeat
from pathlib import Path
from typing import IO, Callable, Iterator

import numpy as np
from tqdm import tqdm

try:  # 3-5x faster JSON; every line it rejects is re-read by json for the exact error message
    import orjson
except ImportError:  # pragma: no cover - orjson is in requirements.txt
    orjson = None

from .runtime import DEFAULT_MAX_LEN, DEVICES, OnnxPredictor, ProviderUnavailableError
from .workers import ProcessWorkers, ThreadWorker, classify_texts, start_early

INPUT_FORMATS = ("auto", "txt", "csv", "jsonl")
OUTPUT_FORMATS = ("auto", "csv", "jsonl")
_JSONL_SUFFIXES = {".jsonl", ".json", ".ndjson"}
MAX_LINE_BYTES = 1 << 20     # a longer physical line is a bad line (keeps memory bounded)
DEFAULT_CHUNK_SIZE = 4096    # rows read, tokenized and length-sorted together
DEFAULT_BATCH = {"cpu": 64, "cuda": 4096}  # headlines per onnxruntime call (bench/bench_classify.py)


class BadLineError(ValueError):
    """A malformed input line, or an input without any valid row; the message names the file."""


class OutputPathError(ValueError):
    """An --output that cannot or must not be written (the input itself, exists, unwritable)."""


# -- reading ------------------------------------------------------------------------------
def input_format(path: Path, requested: str) -> str:
    if requested != "auto":
        return requested
    suffix = path.suffix.lower()
    return "csv" if suffix == ".csv" else "jsonl" if suffix in _JSONL_SUFFIXES else "txt"


def output_format(path: Path | None, requested: str) -> str:
    if requested != "auto":
        return requested
    return "jsonl" if path is not None and path.suffix.lower() in _JSONL_SUFFIXES else "csv"


def _text_error(text: str) -> str | None:
    """Why a headline cannot be classified, or None."""
    if not text or text.isspace():
        return "empty headline"
    if not text.isascii():  # isascii is O(1); only non-ASCII text can hold a lone surrogate
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:  # only JSON escapes ("\ud800") can produce one
            return (f"text has an unpaired surrogate U+{ord(text[exc.start]):04X} at character "
                    f"{exc.start} (not valid Unicode)")
    return None


BLOCK_BYTES = 1 << 22  # bytes read at a time


def _line_blocks(fh: IO[bytes]) -> Iterator[tuple[int, list[bytes | None]]]:
    """(number of the first line, lines) per block read; a line's bytes exclude its "\\n".

    A line longer than MAX_LINE_BYTES comes as None (its bytes are skipped, not kept), so
    memory stays bounded even for a file without line breaks.
    """
    lineno = 1
    rest = b""          # the unfinished last line of the previous block
    too_long = False    # inside a line that is already known to be too long
    while True:
        data = fh.read(BLOCK_BYTES)
        if not data:
            if too_long or rest:  # a last line without "\n"
                yield lineno, [None if too_long else rest]
            return
        parts = data.split(b"\n")
        tail = parts.pop()  # after the last "\n" (b"" when the block ends with one)
        lines: list[bytes | None] = []
        if parts:
            first = parts[0]
            lines.append(None if too_long or len(rest) + len(first) > MAX_LINE_BYTES else rest + first)
            lines.extend(None if len(x) > MAX_LINE_BYTES else x for x in parts[1:])
            too_long, rest = False, b""
        if too_long or len(rest) + len(tail) > MAX_LINE_BYTES:
            too_long, rest = True, b""
        else:
            rest += tail
        if lines:
            yield lineno, lines
            lineno += len(lines)


_TOO_LONG = f"line longer than {MAX_LINE_BYTES:,} bytes"
_MISSING = object()

Row = tuple[int, "str | None", "str | None"]  # (line where the row starts, text, error)


def _utf8_error(exc: UnicodeDecodeError) -> str:
    return f"not valid UTF-8 ({exc.reason} at byte {exc.start})"


def _txt_rows(fh: IO[bytes], path: Path, text_column: str) -> Iterator[Row]:
    for first, lines in _line_blocks(fh):
        for lineno, raw in enumerate(lines, start=first):
            if raw is None:
                yield lineno, None, _TOO_LONG
                continue
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as exc:
                yield lineno, None, _utf8_error(exc)
                continue
            if lineno == 1:
                line = line.lstrip("\ufeff")  # a UTF-8 byte-order mark is not part of the text
            yield lineno, line, _text_error(line)


def _json_text(raw: bytes, lineno: int, key: str) -> tuple[str | None, str | None]:
    """(text, error) of one JSON line, with json's own error messages."""
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, _utf8_error(exc)
    if lineno == 1:
        line = line.lstrip("\ufeff")
    try:
        value = json.loads(line)
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON ({exc.msg} at column {exc.colno})"
    except RecursionError:
        return None, "not valid JSON (nested too deeply)"
    return _json_value_text(value, key)


def _json_value_text(value, key: str) -> tuple[str | None, str | None]:
    if isinstance(value, dict):
        value = value.get(key, _MISSING)
        if value is _MISSING:
            return None, f"JSON object has no {key!r} field"
    if not isinstance(value, str):
        return None, f"text must be a JSON string, got {type(value).__name__}"
    return value, _text_error(value)


def _jsonl_rows(fh: IO[bytes], path: Path, key: str) -> Iterator[Row]:
    loads = orjson.loads if orjson is not None else None
    for first, lines in _line_blocks(fh):
        for lineno, raw in enumerate(lines, start=first):
            if raw is None:
                yield lineno, None, _TOO_LONG
                continue
            if loads is not None:
                try:
                    value = loads(raw)  # bytes in: orjson also checks the UTF-8
                except ValueError:  # orjson.JSONDecodeError; json re-reads it for the message
                    yield lineno, *_json_text(raw, lineno, key)
                    continue
                # the common case inline: an object whose text is a non-blank ASCII string
                if type(value) is dict:
                    text = value.get(key)
                    if type(text) is str and text.isascii() and text and not text.isspace():
                        yield lineno, text, None
                        continue
                yield lineno, *_json_value_text(value, key)
            else:
                yield lineno, *_json_text(raw, lineno, key)


def _csv_rows(fh: IO[bytes], path: Path, text_column: str) -> Iterator[Row]:
    """One Row per CSV record; a quoted field may span lines (the row's line is where it starts)."""
    bad: dict[int, str] = {}  # physical line -> why it is unreadable (UTF-8, too long)

    def lines() -> Iterator[str]:
        for first, block in _line_blocks(fh):
            for lineno, raw in enumerate(block, start=first):
                if raw is None:
                    bad[lineno] = _TOO_LONG
                    yield "\n"
                    continue
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    bad[lineno] = f"not valid UTF-8 ({exc.reason} at byte {exc.start} of line {lineno})"
                    line = raw.decode("utf-8", errors="replace")
                yield (line.lstrip("\ufeff") if lineno == 1 else line) + "\n"

    # strict: a stray quote is an error, not a field that silently swallows the following rows
    reader = csv.reader(lines(), strict=True)
    header: list[str] | None = None
    column = 0
    end = 0  # last physical line read so far
    while True:
        start = end + 1
        try:
            fields = next(reader)
            error = None
        except StopIteration:
            return
        except csv.Error as exc:
            fields, error = None, f"malformed CSV ({exc})"
        end = reader.line_num
        if bad:
            reasons = [bad.pop(n) for n in sorted(bad) if n <= end]
            if reasons:
                fields, error = None, reasons[0]
        if header is None:
            if fields is None:
                raise BadLineError(f"{path}:{start}: cannot read the CSV header: {error}")
            header = fields
            if text_column not in header:
                raise BadLineError(f"{path}:{start}: CSV header has no column {text_column!r} "
                                   f"(columns: {', '.join(header) or 'none'}); use --text-column")
            column = header.index(text_column)
            continue
        if fields is None:
            yield start, None, error
        elif len(fields) != len(header):
            yield start, None, f"expected {len(header)} CSV fields, found {len(fields)}"
        else:
            text = fields[column]
            yield start, text, _text_error(text)


_ROW_READERS: dict[str, Callable[[IO[bytes], Path, str], Iterator[Row]]] = {
    "txt": _txt_rows, "jsonl": _jsonl_rows, "csv": _csv_rows}


def read_rows(path: Path, fmt: str, text_column: str = "text") -> Iterator[Row]:
    """Every row of the input, in order, as (line, text, error); error None for a valid row."""
    with open(path, "rb") as fh:
        yield from _ROW_READERS[fmt](fh, path, text_column)


@dataclass
class Chunk:
    """Up to --chunk-size valid rows, in input order."""

    lines: list[int]
    texts: list[str]
    bytes_read: int = 0  # input position after this chunk (for the progress bar)


@dataclass
class ReadStats:
    rows: int = 0       # rows seen (valid or not)
    skipped: int = 0
    messages: list[str] = field(default_factory=list)


def read_chunks(path: Path, fmt: str, text_column: str, chunk_size: int, skip_bad: bool,
                stats: ReadStats, report: Callable[[str], None]) -> Iterator[Chunk]:
    """Valid rows in chunks (not yet tokenized); a bad row raises BadLineError unless skip_bad."""
    with open(path, "rb") as fh:
        rows = _ROW_READERS[fmt](fh, path, text_column)
        lines: list[int] = []
        texts: list[str] = []
        for lineno, text, error in rows:
            stats.rows += 1
            if error is not None:
                message = f"{path}:{lineno}: {error}"
                if not skip_bad:
                    raise BadLineError(message + " (pass --skip-bad to skip bad lines)")
                stats.skipped += 1
                report(f"skipped {message}")
                continue
            lines.append(lineno)
            texts.append(text)
            if len(texts) == chunk_size:
                yield Chunk(lines, texts, bytes_read=fh.tell())
                lines, texts = [], []
        if texts:
            yield Chunk(lines, texts, bytes_read=fh.tell())


# -- running the model (export.workers) ----------------------------------------------------
MAX_DEFAULT_WORKERS = 8  # each worker holds ~90 MB (its own Python, numpy, onnxruntime, session)


def worker_count(device: str, requested: int | None) -> int:
    """--threads, else one worker process per core this process may use (at most
    MAX_DEFAULT_WORKERS, so a big machine does not get 64 copies of the runtime unasked);
    CUDA runs one session."""
    if device == "cuda":
        return 1
    if requested is not None:
        return requested
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_DEFAULT_WORKERS))


# -- writing ------------------------------------------------------------------------------
def _csv_cell(value: str) -> str:
    """`value` as the csv module writes one field (quoted only where it must be)."""
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow([value])
    return out.getvalue()


class Writer:
    """CSV or JSON-lines rows: line, text, label, one probability per class."""

    def __init__(self, stream: IO[str], fmt: str, class_names: tuple[str, ...]) -> None:
        self.stream, self.fmt, self.class_names = stream, fmt, class_names
        self._names = np.array(class_names, dtype=object)
        if fmt == "csv":
            csv.writer(stream, lineterminator="\n").writerow(
                ["line", "text", "label", *[f"p_{c}" for c in class_names]])
            # one row: the line number, the text always quoted (its quotes doubled, as csv
            # does), the label, "%.6f" of each probability
            self._labels = np.array([_csv_cell(c) for c in class_names], dtype=object)
            self._row = '%d,"%s",%s' + ",%.6f" * len(class_names) + "\n"

    def write(self, lines: list[int], texts: list[str], probs: np.ndarray, block: int = 1024) -> None:
        """Rows in the given order, `block` rows per C-level call (short GIL holds, see FastEncoder.encode)."""
        for start in range(0, len(lines), block):
            end = start + block
            self._write(lines[start:end], texts[start:end], probs[start:end])

    def _write(self, lines: list[int], texts: list[str], probs: np.ndarray) -> None:
        best = probs.argmax(axis=1)
        if self.fmt == "csv":
            # the whole block is one %-operation over the interleaved fields: no Python code
            # per row (csv.writer.writerows took 4x as long for the same text)
            quoted = map(str.replace, texts, repeat('"'), repeat('""'))
            fields = tuple(chain.from_iterable(
                zip(lines, quoted, self._labels[best].tolist(), *probs.T.tolist())))
            self.stream.write(self._row * len(lines) % fields)
            return
        labels = self._names[best].tolist()
        rows = probs.tolist()
        names = self.class_names
        out = []
        for line, text, label, row in zip(lines, texts, labels, rows):
            record = {"line": line, "text": text, "label": label,
                      "probabilities": {c: round(p, 6) for c, p in zip(names, row)}}
            out.append(orjson.dumps(record).decode() if orjson is not None
                       else json.dumps(record, ensure_ascii=False))
        out.append("")
        self.stream.write("\n".join(out))


# -- paths ----------------------------------------------------------------------------------
def check_paths(input_path: Path, output: Path | None, overwrite: bool) -> None:
    """Refuse, before any work, an input that cannot be read and an output that must not be written."""
    if not input_path.exists():
        raise OutputPathError(f"{input_path}: input file not found")
    if input_path.is_dir():
        raise OutputPathError(f"{input_path}: input is a directory, not a file")
    if output is None:
        return
    if output.is_dir():
        raise OutputPathError(f"--output {output} is a directory; give a file name")
    if output.exists():
        if os.path.samefile(input_path, output):  # same inode: symlinks, hard links, ../ paths
            raise OutputPathError(f"--output {output} is the input file {input_path}; "
                                  "writing there would destroy the input")
        if not output.is_file():  # renaming over /dev/null or a FIFO would replace the device itself
            raise OutputPathError(f"--output {output} is not a regular file; for a pipe or device, "
                                  "leave out --output and redirect stdout")
        if not overwrite:
            raise OutputPathError(f"--output {output} exists; pass --overwrite to replace it")
    elif output.is_symlink() and not overwrite:
        raise OutputPathError(f"--output {output} is a symlink (to a missing file); pass --overwrite to replace it")
    ancestor = output.absolute().parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise OutputPathError(f"cannot write --output {output}: {ancestor} is a file, not a directory")


def open_temp_output(output: Path) -> tuple[IO[str], Path]:
    """A new temporary file beside `output` (same filesystem, so the final rename is atomic)."""
    parent = output.absolute().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=parent, prefix=f".{output.name}.", suffix=".tmp")
    except OSError as exc:
        raise OutputPathError(f"cannot write --output {output}: {exc.strerror or exc} ({parent})") from exc
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)  # mkstemp makes 0600; the result should get the usual mode
    return os.fdopen(fd, "w", encoding="utf-8", newline=""), Path(name)


# -- CLI ------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m export.classify", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True, help="exported model, e.g. exports/bilstm.onnx")
    parser.add_argument("--input", type=Path, required=True, help="headlines: .txt, .csv or .jsonl")
    parser.add_argument("--output", type=Path, help="result file (.csv or .jsonl); default: CSV on stdout")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --output")
    parser.add_argument("--stream", action="store_true",
                        help="without --output: print results chunk by chunk instead of after the whole run "
                             "(a later bad line can then stop a run whose first results were printed)")
    parser.add_argument("--batch-size", type=int,
                        help="headlines per onnxruntime call (default "
                             + ", ".join(f"{n} on {d.upper()}" for d, n in DEFAULT_BATCH.items()) + ")")
    parser.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE,
                        help=f"rows read and length-sorted together; bounds memory (default {DEFAULT_CHUNK_SIZE})")
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
    parser.add_argument("--threads", type=int,
                        help="CPU: worker processes, each running onnxruntime on one core "
                             f"(default: one per core this process may use, at most {MAX_DEFAULT_WORKERS}); "
                             "CUDA: one session")
    parser.add_argument("--no-overlap", action="store_true",
                        help="read, tokenize, run and write one after the other in one thread, one core "
                             "(to measure what the workers gain)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def classify(args: argparse.Namespace) -> int:
    check_paths(args.input, args.output, args.overwrite)
    if args.input.stat().st_size == 0:
        raise BadLineError(f"{args.input} is empty: nothing to classify")
    if not args.no_overlap and args.device != "cuda":
        start_early()  # worker processes will be needed unless CUDA works: overlap their start-up
    predictor = OnnxPredictor(args.model, args.tokenizer, device=args.device, max_len=args.max_len, threads=1)
    device = predictor.model.device
    batch_size = args.batch_size or DEFAULT_BATCH[device]
    chunk_size = max(args.chunk_size, batch_size)
    workers = 1 if args.no_overlap else worker_count(device, args.threads)
    print(predictor.model.describe() + ("" if args.no_overlap or device == "cuda" else
                                        f"; {workers} worker process{'es' if workers > 1 else ''}"), file=sys.stderr)
    if predictor.model.pooling == "last_padded":
        print(f"note: {predictor.name} reads the state after padding (the lesson's exhibit), so its "
              "answers depend on which headlines share a batch (here: headlines of about the same length); "
              "use --batch-size 1 for per-headline answers", file=sys.stderr)
    fmt = input_format(args.input, args.format)
    out_fmt = output_format(args.output, args.output_format)

    if args.output is not None:
        stream, tmp = open_temp_output(args.output)
    elif args.stream:
        stream, tmp = sys.stdout, None
    else:  # results wait on disk (bounded memory) until the run is known to have finished
        stream, tmp = tempfile.TemporaryFile("w+", encoding="utf-8", newline=""), None
    stats = ReadStats()
    started = time.perf_counter()
    done = 0
    ok = False
    bar = tqdm(total=args.input.stat().st_size, unit="B", unit_scale=True, disable=args.no_progress,
               file=sys.stderr)
    chunks = read_chunks(args.input, fmt, args.text_column, chunk_size, args.skip_bad, stats,
                         lambda message: tqdm.write(message, file=sys.stderr))
    pool = None
    try:
        writer = Writer(stream, out_fmt, predictor.class_names)
        position = 0

        def write(chunk: Chunk, probs: np.ndarray) -> None:
            nonlocal done, position
            writer.write(chunk.lines, chunk.texts, probs)
            done += len(chunk.texts)
            bar.update(chunk.bytes_read - position)
            position = chunk.bytes_read

        if args.no_overlap:
            for chunk in chunks:
                write(chunk, classify_texts(predictor, chunk.texts, batch_size))
        else:
            # main: reads chunk k+w+1 and writes chunk k, in input order | workers: tokenize and
            # run chunks k..k+w (export.workers: processes on the CPU, a thread on CUDA)
            if device == "cuda":
                pool = ThreadWorker(predictor, batch_size)
            else:  # the workers load their own sessions; this process only reads and writes
                pool = ProcessWorkers(workers, args.model, predictor.tokenizer_path, args.max_len, batch_size)
                predictor.model.close()
            pending: deque[tuple[Chunk, Future]] = deque()
            for chunk in chunks:
                pending.append((chunk, pool.submit(chunk.texts)))
                while len(pending) > pool.count + 1:  # every worker busy and one chunk queued
                    chunk, result = pending.popleft()
                    write(chunk, result.result())
            while pending:
                chunk, result = pending.popleft()
                write(chunk, result.result())
        bar.close()
        if stats.rows == 0:
            raise BadLineError(f"{args.input} has no rows: nothing to classify"
                               + (" (a CSV header alone)" if fmt == "csv" else ""))
        if done == 0:
            raise BadLineError(f"{args.input}: no valid row among {stats.rows:,}; nothing was classified")
        ok = True
    finally:
        if pool is not None:
            pool.close()
        bar.close()
        chunks.close()
        if args.output is not None:
            stream.close()
            if ok:
                os.replace(tmp, args.output)
            else:
                tmp.unlink(missing_ok=True)
        elif stream is not sys.stdout:
            if ok:
                stream.seek(0)
                shutil.copyfileobj(stream, sys.stdout)
                sys.stdout.flush()
            stream.close()
    seconds = time.perf_counter() - started
    where = args.output if args.output is not None else "stdout"
    print(f"classified {done} headlines in {seconds:.2f} s ({done / max(seconds, 1e-9):,.0f}/s) on "
          f"{predictor.provider}{f', skipped {stats.skipped} bad lines' if stats.skipped else ''} -> {where}",
          file=sys.stderr)
    return 0


def _terminated(signum, frame) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for name in ("batch_size", "chunk_size", "threads"):
        value = getattr(args, name)
        if value is not None and value < 1:
            print(f"error: --{name.replace('_', '-')} must be >= 1", file=sys.stderr)
            return 2
    unwritten = (f"{args.output} was not written" if args.output is not None else
                 "the results printed so far are incomplete" if args.stream else "nothing was printed")
    # a terminated run cleans up like an interrupted one: temporary output removed, workers stopped
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminated) if in_main else None
    try:
        return classify(args)
    except BadLineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"interrupted: {unwritten}", file=sys.stderr)
        return 130
    except BrokenProcessPool as exc:
        print(f"error: a worker process died ({exc}): {unwritten}", file=sys.stderr)
        return 1
    except (OutputPathError, ProviderUnavailableError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
