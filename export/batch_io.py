"""Rows in and rows out of batch classification, shared by export.classify's engines.

Reading: plain text, CSV, JSON lines and Parquet, from files or pipes, as (line, text, error)
rows in bounded memory, every malformed row named by its file and line (and its line range when
it spans several); read_chunks groups the valid ones. Every row read is either classified or
reported: a CSV quote that would swallow the rows after it stops the run instead (FatalInputError).
Writing: CSV or JSON-lines result rows (Writer) into a Destination, an unnamed file that is linked
into place only when the run succeeds (NewFile), after check_paths has refused outputs that would
destroy the input or an earlier result. StopSignals makes Ctrl-C and SIGTERM stop a run cleanly,
however often they come.
"""
from __future__ import annotations

import contextlib
import csv
import errno
import io
import json
import os
import re
import secrets
import shutil
import signal
import stat
import sys
import tempfile
import threading
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


class FatalInputError(BadLineError):
    """Input that stops the run even with --skip-bad: where its rows end cannot be known (a CSV
    quote that is never closed), so skipping would lose or invent rows."""


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


def is_regular_file(path: Path) -> bool:
    """A regular file (its size means something), not a pipe, /dev/stdin on a pipe or a device."""
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except OSError:
        return False


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


class _LongLine:
    """A line longer than MAX_LINE_BYTES (its bytes are skipped, not kept); `holds` tells
    whether the byte _line_blocks was asked to watch for (the CSV quote) occurs in it."""

    __slots__ = ("holds",)

    def __init__(self, holds: bool) -> None:
        self.holds = holds


def _line_blocks(fh: IO[bytes], watch: bytes | None = None) -> Iterator[tuple[int, list]]:
    """(number of the first line, lines) per block read; a line's bytes exclude its "\\n".

    A line longer than MAX_LINE_BYTES comes as a _LongLine (its bytes are skipped, not kept), so
    memory stays bounded even for a file without line breaks.
    """
    lineno = 1
    rest = b""          # the unfinished last line of the previous block
    too_long = False    # inside a line that is already known to be too long
    holds = False       # ... and `watch` occurs in what was seen of it
    while True:
        data = fh.read(BLOCK_BYTES)
        if not data:
            if too_long or rest:  # a last line without "\n"
                yield lineno, [_LongLine(holds) if too_long else rest]
            return
        parts = data.split(b"\n")
        tail = parts.pop()  # after the last "\n" (b"" when the block ends with one)
        lines: list = []
        if parts:
            first = parts[0]
            if too_long or len(rest) + len(first) > MAX_LINE_BYTES:
                lines.append(_LongLine(watch is not None and (holds or watch in rest or watch in first)))
            else:
                lines.append(rest + first)
            lines.extend(_LongLine(watch is not None and watch in x) if len(x) > MAX_LINE_BYTES else x
                         for x in parts[1:])
            too_long, holds, rest = False, False, b""
        if too_long or len(rest) + len(tail) > MAX_LINE_BYTES:
            holds = watch is not None and (holds or watch in rest or watch in tail)
            too_long, rest = True, b""
        else:
            rest += tail
        if lines:
            yield lineno, lines
            lineno += len(lines)


_TOO_LONG = f"line longer than {MAX_LINE_BYTES:,} bytes"
_MISSING = object()

Row = tuple[int, "str | None", "str | None"]  # (line where the row starts, text, error)


class _Blank(str):
    """The error of a line without text; such lines at the very end of a file are no rows."""


_BLANK = _Blank("blank line")
_EMPTY = _Blank("empty headline")


def _utf8_error(exc: UnicodeDecodeError) -> str:
    return f"not valid UTF-8 ({exc.reason} at byte {exc.start})"


def _txt_rows(fh: IO[bytes], path: Path, text_column: str) -> Iterator[Row]:
    for first, lines in _line_blocks(fh):
        for lineno, raw in enumerate(lines, start=first):
            if type(raw) is _LongLine:
                yield lineno, None, _TOO_LONG
                continue
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as exc:
                yield lineno, None, _utf8_error(exc)
                continue
            if lineno == 1:
                line = line.lstrip("\ufeff")  # a UTF-8 byte-order mark is not part of the text
            yield lineno, line, _EMPTY if not line or line.isspace() else _text_error(line)


def _json_text(raw: bytes, lineno: int, key: str) -> tuple[str | None, str | None]:
    """(text, error) of one JSON line, with json's own error messages."""
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, _utf8_error(exc)
    if lineno == 1:
        line = line.lstrip("\ufeff")
    if not line or line.isspace():
        return None, _BLANK
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
            if type(raw) is _LongLine:
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


# Python's csv module stops a field at 128 KiB by default and then reads the rest of that field's
# lines as new rows: a field is bounded here by the row limit instead (a row of at most
# MAX_LINE_BYTES, newlines included, cannot hold a longer field).
_CSV_FIELD_LIMIT = 2 * MAX_LINE_BYTES
_CSV_SPECIAL = re.compile(r'[",\r\n]')


def _open_quote_line(lines: list[str], first: int) -> int | None:
    """The line where the quoted field still open after `lines` (numbered from `first`) opened,
    or None when every quote is closed. Reads as csv's default dialect does; where its strict
    mode refuses a character after a closing quote, it goes on as the lenient mode would."""
    START, FIELD, QUOTED, QUOTE = range(4)  # start of a field, unquoted field, quoted field, quote in one
    state, opened = START, None
    for lineno, line in enumerate(lines, start=first):
        position = 0
        for match in _CSV_SPECIAL.finditer(line):
            if match.start() > position and state in (START, QUOTE):  # other characters before this one
                state = FIELD
            position = match.end()
            char = match.group()
            if state == QUOTED:
                if char == '"':
                    state = QUOTE
            elif char == '"':
                if state == START:
                    state, opened = QUOTED, lineno
                elif state == QUOTE:  # a doubled quote inside the quoted field
                    state = QUOTED
            else:  # a comma ends the field, a line break the row
                state = START
        if position < len(line) and state in (START, QUOTE):
            state = FIELD
    return opened if state == QUOTED else None


def _csv_rows(fh: IO[bytes], path: Path, text_column: str) -> Iterator[Row]:
    """One Row per CSV record; a quoted field may span lines (the row's line is where it starts,
    and the error of a bad row that spans several names them all).

    Every line ends up in a row: a one-line record that csv cannot read is a bad row, and reading
    goes on from the next line. Where that is not safe, the run stops with the line where the
    quote at fault opened (FatalInputError, also with --skip-bad) instead of losing the rows after
    it or making rows out of the pieces of one field: a quoted field that never closes, breaks
    across lines, runs past the row limit, or leaves a quote open after a bad line.
    """
    if csv.field_size_limit() < _CSV_FIELD_LIMIT:
        csv.field_size_limit(_CSV_FIELD_LIMIT)
    bad: dict[int, str] = {}  # physical line -> why it is unreadable (UTF-8, too long)
    record: list[str] = []    # the lines of the record being read, as csv got them (<= 1 MiB)
    size = 0                  # their bytes
    start = 1                 # the line where the record being read starts

    def lines() -> Iterator[str]:
        nonlocal size
        for first_line, block in _line_blocks(fh, watch=b'"'):
            for lineno, raw in enumerate(block, start=first_line):
                if lineno == start:
                    record.clear()
                    size = 0
                if type(raw) is _LongLine:
                    if record:  # inside a quoted field that began on an earlier line
                        raise _unclosed(path, record, start, lineno, at_end=False)
                    if raw.holds:
                        raise FatalInputError(
                            f"{path}:{lineno}: {_TOO_LONG} with a quote in it: where its CSV row ends cannot be "
                            "known, so the run stops (also with --skip-bad)")
                    bad[lineno] = _TOO_LONG
                    line = "\n"
                else:
                    size += len(raw) + 1
                    if record and size > MAX_LINE_BYTES:
                        raise _unclosed(path, record, start, lineno, at_end=False)
                    try:
                        line = raw.decode("utf-8")
                    except UnicodeDecodeError as exc:
                        bad[lineno] = f"not valid UTF-8 ({exc.reason} at byte {exc.start} of line {lineno})"
                        line = raw.decode("utf-8", errors="replace")
                    line = (line.lstrip("\ufeff") if lineno == 1 else line) + "\n"
                record.append(line)
                yield line

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
            if "unexpected end of data" in str(exc):  # csv's strict mode: the file ends inside quotes
                raise _unclosed(path, record, start, end, at_end=True) from None
            if end > start:  # a quote open across a line break, then a character csv refuses
                opened = _open_quote_line(record[:-1], start) or start
                raise FatalInputError(
                    f"{path}:{opened}: a quoted CSV field opens on this line and breaks on line {end} ({exc}): the "
                    "lines in between cannot be told apart from rows, so the run stops (also with --skip-bad): "
                    "close or remove that quote") from None
            if _open_quote_line(record, start) is not None or "field limit" in str(exc):
                raise FatalInputError(
                    f"{path}:{start}: {error}, and a quote is still open at the end of the line: the rows after it "
                    "cannot be told apart from pieces of this one, so the run stops (also with --skip-bad)") from None
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
        span = f" (lines {start}-{end})" if end > start else ""
        if fields is None:
            yield start, None, error + span
        elif len(fields) != len(header):
            if not fields and not span:
                yield start, None, _BLANK
            else:
                yield start, None, f"expected {len(header)} CSV fields, found {len(fields)}{span}"
        else:
            text = fields[column]
            error = _text_error(text)
            yield start, text, None if error is None else error + span


def _unclosed(path: Path, record: list[str], start: int, lineno: int, at_end: bool) -> FatalInputError:
    """The error for a quoted field that never closes (at_end) or runs past the row limit."""
    opened = _open_quote_line(record, start) or start
    how = (f"never closes: it would take in lines {opened}-{lineno}, to the end of the file, as one row" if at_end
           else f"runs past {MAX_LINE_BYTES:,} bytes (to line {lineno}) without closing")
    return FatalInputError(f"{path}:{opened}: a quoted CSV field opens on this line and {how}; the rows after it "
                           "cannot be told apart from pieces of it, so the run stops (also with --skip-bad): "
                           "close or remove that quote")


PARQUET_BATCH_ROWS = 8192  # rows decoded at a time


def _parquet_rows(fh: IO[bytes], path: Path, text_column: str) -> Iterator[Row]:
    """One Row per Parquet row, its number (from 1) standing for the line; a null text is a bad row."""
    import pyarrow as pa  # only Parquet input needs pyarrow (requirements-dev.txt)
    import pyarrow.parquet as pq
    if not fh.seekable():
        raise BadLineError(f"{path}: Parquet is read from a file, not a pipe (its index is at the end)")
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


def _without_trailing_blanks(rows: Iterator[Row]) -> Iterator[Row]:
    """`rows` less the blank lines at the very end of the file (an editor's last newline is no
    row); blank lines followed by anything else stay bad rows."""
    first = count = 0  # a run of blank lines held back: its first line and length
    error: str = _BLANK
    for row in rows:
        if type(row[2]) is _Blank:
            if not count:
                first, error = row[0], row[2]
            count += 1
            continue
        if count:
            yield from ((line, None, error) for line in range(first, first + count))
            count = 0
        yield row


class _Counted:
    """A pipe read through, counting its bytes (tell() only works on a file)."""

    def __init__(self, fh: IO[bytes]) -> None:
        self.fh, self.position = fh, 0

    def read(self, size: int = -1) -> bytes:
        data = self.fh.read(size)
        self.position += len(data)
        return data

    def seekable(self) -> bool:
        return False

    def tell(self) -> int:
        return self.position


def read_rows(path: Path, fmt: str, text_column: str = "text") -> Iterator[Row]:
    """Every row of the input, in order, as (line, text, error); error None for a valid row."""
    with open(path, "rb") as fh:
        yield from _without_trailing_blanks(_ROW_READERS[fmt](fh, path, text_column))


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
    as it is read (it may raise to stop the run). A pipe (or /dev/stdin) is read like a file.
    Blank lines at the very end are no rows (as in read_rows; done inline here, for speed)."""
    with open(path, "rb") as raw:
        fh = raw if raw.seekable() else _Counted(raw)
        lines: list[int] = []
        texts: list[str] = []
        blank_first = blanks = 0  # a run of blank lines held back until a row follows it
        blank_error = _BLANK
        for lineno, text, error in _ROW_READERS[fmt](fh, path, text_column):
            if blanks:
                if type(error) is _Blank:
                    blanks += 1
                    continue
                for line in range(blank_first, blank_first + blanks):
                    stats.rows += 1
                    bad_row(line, blank_error)
                blanks = 0
            stats.rows += 1
            if error is not None:
                if type(error) is _Blank:
                    stats.rows -= 1
                    blank_first, blanks, blank_error = lineno, 1, error
                    continue
                bad_row(lineno, error)
                continue
            lines.append(lineno)
            texts.append(text)
            if len(texts) == chunk_size:
                yield Chunk(lines, texts, bytes_read=fh.tell())
                lines, texts = [], []
        if texts:
            yield Chunk(lines, texts, bytes_read=fh.tell())


def check_accounted(source: Path | str, stats: ReadStats, done: int, skipped: int) -> None:
    """Every row read was classified or reported as skipped; anything else is a bug, and the run
    fails rather than lose a row silently."""
    if stats.rows != done + skipped:
        raise RunError(f"{source}: {stats.rows:,} rows read, but {done:,} classified and {skipped:,} skipped")


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


class RunError(RuntimeError):
    """A run that could not finish: a worker, actor or node lost beyond retries, or a stalled cluster."""



# -- files that appear whole or not at all -------------------------------------------------
UNNAMED_FILES = hasattr(os, "O_TMPFILE")  # Linux; tests switch it off to check the named fallback
_NO_UNNAMED = {errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL, errno.ENOENT}  # kernel or filesystem without it
_NO_LINK = {errno.EXDEV, errno.EPERM, errno.EOPNOTSUPP, errno.ENOENT, errno.EINVAL}  # linkat refused


class OutputWriteError(RunError):
    """Writing the results failed (a full disk, a closed pipe); the message says what was left."""


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _drop_stdout() -> None:
    """After stdout failed: point it at /dev/null, so that the exit's own flush of what is still
    buffered does not fail again with a traceback-like "Exception ignored" message."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _hidden_name(name: str) -> str:
    return f".{name}.{secrets.token_hex(4)}.tmp"


def _missing_folders(folder: Path) -> list[Path]:
    """`folder` and those above it that do not exist yet, outermost first."""
    missing = []
    while not folder.exists() and folder.parent != folder:
        missing.append(folder)
        folder = folder.parent
    return missing[::-1]


class NewFile:
    """A file that appears at `path` complete, through commit(), or not at all.

    On Linux it is an unnamed file in the target folder (O_TMPFILE) that commit() links into
    place (linkat through /proc/self/fd): until then it has no name, so nothing is left behind
    however the process ends, SIGKILL included. Where that is not supported (another OS, a
    filesystem without O_TMPFILE, no /proc), it is a hidden named file beside `path`
    (".NAME.XXXXXXXX.tmp") that commit() renames into place and discard() removes; only a
    SIGKILL leaves that one behind.

    Without `overwrite`, commit() links the file under its name only if that name is still free
    (a file that appeared there meanwhile is kept, and this one is not written). Folders created
    for `path` are removed again by discard() while they are empty.
    """

    def __init__(self, path: Path, overwrite: bool, binary: bool = False, label: str | None = None) -> None:
        self.path, self.overwrite = path, overwrite
        self.label = label or str(path)
        self.tmp: str | None = None   # the hidden name in the folder, when the file has one
        parent = path.absolute().parent
        self.created = _missing_folders(parent)
        self.dir_fd = fd = None
        try:
            parent.mkdir(parents=True, exist_ok=True)
            # names are resolved in this folder, even if it is renamed or replaced meanwhile
            self.dir_fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            fd = self._open_unnamed()
            if fd is None:
                fd, name = tempfile.mkstemp(dir=parent, prefix=f".{path.name}.", suffix=".tmp")
                self.tmp = os.path.basename(name)
                umask = os.umask(0)
                os.umask(umask)
                os.fchmod(fd, 0o666 & ~umask)  # mkstemp makes 0600; the result gets the usual mode
            self.file = os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8", newline="")
        except BaseException as exc:
            if fd is not None:
                os.close(fd)
            self._forget()
            if isinstance(exc, OSError):
                raise OutputPathError(f"cannot write {self.label}: {_reason(exc)} ({parent})") from exc
            raise

    def _open_unnamed(self) -> int | None:
        if not UNNAMED_FILES or not os.path.isdir("/proc/self/fd"):  # commit() links through /proc
            return None
        try:  # mode 0666 less the umask, as for any new file
            # read-write: should linking it fail at the end, its data can still be copied out
            return os.open(".", os.O_TMPFILE | os.O_RDWR | os.O_CLOEXEC, 0o666, dir_fd=self.dir_fd)
        except OSError as exc:
            if exc.errno in _NO_UNNAMED:
                return None
            raise

    @property
    def unnamed(self) -> bool:
        return self.tmp is None

    def _link(self, name: str) -> None:
        """Give the open unnamed file `name` in the folder (FileExistsError if it is taken)."""
        os.link(f"/proc/self/fd/{self.file.fileno()}", name, dst_dir_fd=self.dir_fd, follow_symlinks=True)

    def _link_hidden(self) -> str:
        """A hidden name for the open unnamed file; where the system refuses to link it, a hidden
        named copy of it."""
        while True:
            name = _hidden_name(self.path.name)
            try:
                self._link(name)
                return name
            except FileExistsError:
                continue
            except OSError as exc:
                if exc.errno not in _NO_LINK:
                    raise
                return self._copy_hidden()

    def _copy_hidden(self) -> str:
        fd, path = tempfile.mkstemp(dir=self.path.absolute().parent, prefix=f".{self.path.name}.", suffix=".tmp")
        name = os.path.basename(path)
        try:
            umask = os.umask(0)
            os.umask(umask)
            os.fchmod(fd, 0o666 & ~umask)
            source, offset = self.file.fileno(), 0
            while True:
                data = os.pread(source, 1 << 20, offset)
                if not data:
                    break
                offset += len(data)
                while data:
                    data = data[os.write(fd, data):]
            os.fsync(fd)
        except BaseException:
            os.unlink(name, dir_fd=self.dir_fd)
            raise
        finally:
            os.close(fd)
        return name

    def park(self, keep_open: bool = True) -> None:
        """The file is complete and waits for commit() or discard(). An unnamed file has to stay
        open (closing it would delete it); with keep_open=False it gets a hidden name and is closed
        (to hold fewer open files while many wait)."""
        try:
            self.file.flush()
            os.fsync(self.file.fileno())
            if self.unnamed and not keep_open:
                self.tmp = self._link_hidden()
            if not self.unnamed:
                self.file.close()
        except OSError as exc:
            self.discard()
            raise OutputWriteError(f"cannot write {self.label}: {_reason(exc)}; it was not written") from exc

    def commit(self) -> None:
        """Flush and sync the data, then put the file in place under its name."""
        name, folder = self.path.name, self.dir_fd
        try:
            if not self.file.closed:
                self.file.flush()
                os.fsync(self.file.fileno())
            if self.unnamed:
                try:
                    self._link(name)  # atomic, and never over an existing file
                except FileExistsError:
                    if not self.overwrite:
                        raise
                    self.tmp = self._link_hidden()  # renamed over the old file below, in one step
                except OSError as exc:
                    if exc.errno not in _NO_LINK:
                        raise
                    self.tmp = self._copy_hidden()  # then placed as a named file would be
            if self.tmp is not None and not self.overwrite:
                try:  # linked, not renamed: a name taken meanwhile is an error, not replaced
                    os.link(self.tmp, name, src_dir_fd=folder, dst_dir_fd=folder, follow_symlinks=False)
                    os.unlink(self.tmp, dir_fd=folder)
                    self.tmp = None
                except OSError as exc:  # a filesystem without hard links: look first, then rename
                    if exc.errno not in _NO_LINK:
                        raise
                    if os.path.lexists(self.path):
                        raise FileExistsError(errno.EEXIST, "exists", str(self.path)) from None
            if self.tmp is not None:
                os.replace(self.tmp, name, src_dir_fd=folder, dst_dir_fd=folder)
                self.tmp = None
            self.file.close()
            os.close(folder)
            self.dir_fd = None
        except FileExistsError:
            self.discard()
            raise OutputPathError(f"{self.label} appeared while this run was writing; it was kept, and the results "
                                  "were not written (pass --overwrite to replace it)") from None
        except OSError as exc:
            self.discard()
            raise OutputWriteError(f"cannot write {self.label}: {_reason(exc)}; it was not written") from exc
        except BaseException:
            self.discard()
            raise

    def discard(self) -> None:
        """Forget what was written (an unnamed file vanishes as it is closed)."""
        with contextlib.suppress(OSError, AttributeError):
            self.file.close()
        self._forget()

    def _forget(self) -> None:
        if self.tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.tmp, dir_fd=self.dir_fd)
            self.tmp = None
        if self.dir_fd is not None:
            os.close(self.dir_fd)
            self.dir_fd = None
        for folder in reversed(self.created):
            try:
                folder.rmdir()
            except OSError:  # no longer empty (or gone): leave it and those above it
                break
        self.created = []


class _Guarded:
    """Writes to an output, with a failure (a full disk, a closed pipe) as one clear error."""

    def __init__(self, file: IO[str], failed: str) -> None:
        self.raw, self.failed = file, failed

    def write(self, text: str) -> int:
        try:
            return self.raw.write(text)
        except OSError as exc:
            if self.raw is sys.stdout:
                _drop_stdout()
            raise OutputWriteError(self.failed.format(_reason(exc))) from exc


class Destination:
    """Where one run's results go, so that nothing partial is ever left behind.

    With `output`: a NewFile beside it, put in place by commit(). Without: an unnamed temporary
    file copied to stdout by commit() (bounded memory until the run is known to have finished),
    or stdout itself when `stream`. discard() forgets what was written. A failed write is an
    OutputWriteError whose message says what was left.
    """

    def __init__(self, output: Path | None, stream: bool = False, overwrite: bool = False) -> None:
        self.output, self.new = output, None
        if output is not None:
            self.new = NewFile(output, overwrite, label=f"--output {output}")
            raw, failed = self.new.file, f"cannot write --output {output}: {{}}; it was not written"
        elif stream:
            raw, failed = sys.stdout, "cannot write to stdout: {}; the results printed so far are incomplete"
        else:
            raw = tempfile.TemporaryFile("w+", encoding="utf-8", newline="")  # unnamed on Linux too
            failed = (f"cannot hold the results in a temporary file in {tempfile.gettempdir()}: {{}}; "
                      "nothing was printed")
        self.raw = raw
        self.file = _Guarded(raw, failed)

    def close(self, keep_open: bool = True) -> None:
        """A finished --output file waits for commit or discard (NewFile.park)."""
        if self.new is not None:
            self.new.park(keep_open)

    @property
    def unnamed(self) -> bool:
        return self.new is not None and self.new.unnamed

    def commit(self) -> None:
        if self.new is not None:
            self.new.commit()
        elif self.raw is not sys.stdout:
            try:
                self.raw.seek(0)
                shutil.copyfileobj(self.raw, sys.stdout)
                sys.stdout.flush()
            except OSError as exc:
                _drop_stdout()
                raise OutputWriteError(f"cannot write to stdout: {_reason(exc)}; what was printed is incomplete") \
                    from exc
            finally:
                self.raw.close()
        else:
            try:
                sys.stdout.flush()
            except OSError as exc:
                _drop_stdout()
                raise OutputWriteError(f"cannot write to stdout: {_reason(exc)}; the results printed are "
                                       "incomplete") from exc

    def discard(self) -> None:
        if self.new is not None:
            self.new.discard()
        elif self.raw is not sys.stdout:
            self.raw.close()


def check_classified(source: Path | str, rows: int, done: int, csv_input: bool) -> None:
    """A run fails when its input had no row, or no valid one."""
    if rows == 0:
        raise BadLineError(f"{source} has no rows: nothing to classify" + (" (a CSV header alone)" if csv_input else ""))
    if done == 0:
        raise BadLineError(f"{source}: no valid row among {rows:,}; nothing was classified")


# -- stopping ---------------------------------------------------------------------------------
class StopSignals:
    """Ctrl-C (SIGINT) and SIGTERM during a run.

    The first one raises KeyboardInterrupt where the run is, and the run cleans up as after any
    failure (nothing written, workers stopped). Any later one is only counted: a second Ctrl-C
    must not cut that cleanup short (it once left the temporary output behind). Inside held()
    (the cleanup itself, and putting the results in place) even the first one is only counted,
    so a run is either put in place whole or not at all. Signals are the main thread's: from
    any other thread install() does nothing.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.count = 0
        self._held = 0
        self._saved: dict[int, object] = {}

    def _handle(self, signum, frame) -> None:
        self.count += 1
        if self.count == 1 and not self._held:
            raise KeyboardInterrupt

    def install(self) -> None:
        """Handle both signals (again, after a library such as Ray has installed its own)."""
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in self.SIGNALS:
            previous = signal.signal(sig, self._handle)
            self._saved.setdefault(sig, previous)

    def restore(self) -> None:
        for sig, previous in self._saved.items():
            signal.signal(sig, previous)
        self._saved.clear()
        self.count = self._held = 0

    def ignore_from_now(self) -> None:
        """Count any further signal without acting on it (a finished run, reporting)."""
        self._held += 1

    def ignore_until_exit(self) -> None:
        """Ignore both signals for the rest of the process (a CLI about to exit). As Python shuts
        down it puts the default handler back in place of a Python one (not of SIG_IGN), and a
        late SIGTERM would then end the process without its exit status."""
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                signal.signal(sig, signal.SIG_IGN)

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        self._held += 1
        try:
            yield
        finally:
            self._held -= 1


stop_signals = StopSignals()


# -- reports ---------------------------------------------------------------------------------
def note_last_padded(predictor) -> None:
    """Warn that a model reading the state after padding answers differently in other batches."""
    if predictor.model.pooling == "last_padded":
        print(f"note: {predictor.name} reads the state after padding (the lesson's exhibit), so its "
              "answers depend on which headlines share a batch (here: headlines of about the same length); "
              "use --batch-size 1 for per-headline answers", file=sys.stderr)


def report_done(done: int, seconds: float, provider: str, skipped: int, where) -> None:
    """The last line of a run on stderr: rows, time, rate, where it ran, what was skipped (every
    row read is one or the other: check_accounted)."""
    print(f"classified {done} headlines in {seconds:.2f} s ({done / max(seconds, 1e-9):,.0f}/s) on {provider}"
          f"{f'; skipped {skipped} bad rows (each named above), {done + skipped} rows read' if skipped else ''}"
          f" -> {where}", file=sys.stderr)
