"""Rows in and rows out of batch classification, shared by export.classify's engines.

Reading: plain text, CSV, JSON lines and Parquet as (line, text, error) rows, in bounded memory,
every malformed row named by its file and line; read_chunks groups the valid ones. Writing: CSV
or JSON-lines result rows (Writer) into a Destination that appears only when the run succeeds,
after check_paths has refused outputs that would destroy the input or an earlier result.
"""
from __future__ import annotations

import csv
import io
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from itertools import chain, repeat
from pathlib import Path
from typing import IO, Callable, Iterator

import numpy as np

try:  # 3-5x faster JSON; every line it rejects is re-read by json for the exact error message
    import orjson
except ImportError:  # pragma: no cover - orjson is in requirements.txt
    orjson = None

INPUT_FORMATS = ("auto", "txt", "csv", "jsonl", "parquet")
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
    if suffix == ".parquet":
        return "parquet"
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


PARQUET_BATCH_ROWS = 8192  # rows decoded at a time


def _parquet_rows(fh: IO[bytes], path: Path, text_column: str) -> Iterator[Row]:
    """One Row per Parquet row, its number (from 1) standing for the line; a null text is a bad row."""
    import pyarrow as pa  # only Parquet input needs pyarrow (requirements-dev.txt)
    import pyarrow.parquet as pq
    try:
        reader = pq.ParquetFile(fh)
    except (pa.ArrowException, OSError) as exc:
        raise BadLineError(f"{path}: not a readable Parquet file ({exc})") from exc
    schema = reader.schema_arrow
    if text_column not in schema.names:
        raise BadLineError(f"{path}: Parquet file has no column {text_column!r} "
                           f"(columns: {', '.join(schema.names) or 'none'}); use --text-column")
    kind = schema.field(text_column).type
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind)):
        raise BadLineError(f"{path}: Parquet column {text_column!r} holds {kind}, not text")
    lineno = 1
    try:
        for batch in reader.iter_batches(batch_size=PARQUET_BATCH_ROWS, columns=[text_column]):
            for text in batch.column(0).to_pylist():
                yield lineno, text, "no text (null)" if text is None else _text_error(text)
                lineno += 1
    except (pa.ArrowException, OSError) as exc:
        raise BadLineError(f"{path}: unreadable Parquet data after row {lineno - 1} ({exc})") from exc


_ROW_READERS: dict[str, Callable[[IO[bytes], Path, str], Iterator[Row]]] = {
    "txt": _txt_rows, "jsonl": _jsonl_rows, "csv": _csv_rows, "parquet": _parquet_rows}


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


class BadRows:
    """What a bad row does: it stops the run with its file and line (BadLineError), or, with
    --skip-bad, it is reported and counted."""

    def __init__(self, skip: bool, report: Callable[[str], None]) -> None:
        self.skip, self.report = skip, report
        self.skipped = 0

    def __call__(self, path: Path | str, lineno: int, error: str) -> None:
        message = f"{path}:{lineno}: {error}"
        if not self.skip:
            raise BadLineError(message + " (pass --skip-bad to skip bad lines)")
        self.skipped += 1
        self.report(f"skipped {message}")


def read_chunks(path: Path, fmt: str, text_column: str, chunk_size: int,
                bad_row: Callable[[int, str], None], stats: ReadStats) -> Iterator[Chunk]:
    """Valid rows in chunks (not yet tokenized); bad_row(line, error) is called for every bad row
    as it is read (it may raise to stop the run)."""
    with open(path, "rb") as fh:
        rows = _ROW_READERS[fmt](fh, path, text_column)
        lines: list[int] = []
        texts: list[str] = []
        for lineno, text, error in rows:
            stats.rows += 1
            if error is not None:
                bad_row(lineno, error)
                continue
            lines.append(lineno)
            texts.append(text)
            if len(texts) == chunk_size:
                yield Chunk(lines, texts, bytes_read=fh.tell())
                lines, texts = [], []
        if texts:
            yield Chunk(lines, texts, bytes_read=fh.tell())


# -- writing ------------------------------------------------------------------------------
def _csv_cell(value: str) -> str:
    """`value` as the csv module writes one field (quoted only where it must be)."""
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow([value])
    return out.getvalue()


class Writer:
    """CSV or JSON-lines rows: line, text, label, one probability per class (CSV: after a header
    row, unless header=False)."""

    def __init__(self, stream: IO[str], fmt: str, class_names: tuple[str, ...], header: bool = True) -> None:
        self.stream, self.fmt, self.class_names = stream, fmt, class_names
        self._names = np.array(class_names, dtype=object)
        if fmt == "csv":
            if header:
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
        raise OutputPathError(f"{input_path}: input is a directory, not a file "
                              "(--engine ray reads a folder or a glob of shards)")
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


class Destination:
    """Where one run's results go, so that nothing partial is ever left behind.

    With `output`: a temporary file beside it, renamed over it by commit(). Without: a temporary
    file copied to stdout by commit() (bounded memory until the run is known to have finished),
    or stdout itself when `stream`. discard() removes what was written.
    """

    def __init__(self, output: Path | None, stream: bool = False) -> None:
        self.output, self.tmp = output, None
        if output is not None:
            self.file, self.tmp = open_temp_output(output)
        elif stream:
            self.file = sys.stdout
        else:
            self.file = tempfile.TemporaryFile("w+", encoding="utf-8", newline="")

    def close(self) -> None:
        """Close a finished --output file (it waits, closed, for commit or discard)."""
        if self.output is not None:
            self.file.close()

    def commit(self) -> None:
        if self.output is not None:
            self.file.close()
            os.replace(self.tmp, self.output)
        elif self.file is not sys.stdout:
            self.file.seek(0)
            shutil.copyfileobj(self.file, sys.stdout)
            sys.stdout.flush()
            self.file.close()

    def discard(self) -> None:
        if self.file is not sys.stdout:
            self.file.close()
        if self.tmp is not None:
            self.tmp.unlink(missing_ok=True)


def check_classified(source: Path | str, rows: int, done: int, csv_input: bool) -> None:
    """A run fails when its input had no row, or no valid one."""
    if rows == 0:
        raise BadLineError(f"{source} has no rows: nothing to classify" + (" (a CSV header alone)" if csv_input else ""))
    if done == 0:
        raise BadLineError(f"{source}: no valid row among {rows:,}; nothing was classified")


class RunError(RuntimeError):
    """A run that could not finish: a worker, actor or node lost beyond retries, or a stalled cluster."""


# -- reports ---------------------------------------------------------------------------------
def note_last_padded(predictor) -> None:
    """Warn that a model reading the state after padding answers differently in other batches."""
    if predictor.model.pooling == "last_padded":
        print(f"note: {predictor.name} reads the state after padding (the lesson's exhibit), so its "
              "answers depend on which headlines share a batch (here: headlines of about the same length); "
              "use --batch-size 1 for per-headline answers", file=sys.stderr)


def report_done(done: int, seconds: float, provider: str, skipped: int, where) -> None:
    """The last line of a run on stderr: rows, time, rate, where it ran, what was skipped."""
    print(f"classified {done} headlines in {seconds:.2f} s ({done / max(seconds, 1e-9):,.0f}/s) on "
          f"{provider}{f', skipped {skipped} bad lines' if skipped else ''} -> {where}", file=sys.stderr)


def terminated(signum, frame) -> None:
    """SIGTERM handler: a terminated run cleans up like an interrupted one."""
    raise KeyboardInterrupt
