"""AG News readers (original CSV, Hugging Face JSON lines / parquet) with line-level errors.

Original CSV (Zhang et al. 2015): no header, `"class","title","description"`, class 1..4.
Hugging Face form: `{"label": 0..3, "text": title + " " + description}` per line.
Both become a `Dataset` of (text, label 0..3). Bad rows stop the read with the file and
line number, or, with `skip_bad=True`, are skipped and listed in the `ReadReport`.
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

from . import CLASS_NAMES

NUM_CLASSES = len(CLASS_NAMES)


class DataError(ValueError):
    """A data file that cannot be read as AG News; the message names file and line."""


@dataclass
class ReadReport:
    """What a read did: rows kept and every row skipped, with its line number and reason."""

    path: str
    format: str
    rows: int = 0
    skipped: list[tuple[int, str]] = field(default_factory=list)

    def summary(self) -> str:
        text = f"{self.path}: {self.rows} rows read ({self.format})"
        if self.skipped:
            text += f", {len(self.skipped)} bad rows skipped"
            shown = "; ".join(f"line {n}: {why}" for n, why in self.skipped[:5])
            text += f" ({shown}{'; ...' if len(self.skipped) > 5 else ''})"
        return text


@dataclass
class Dataset:
    texts: list[str]
    labels: list[int]
    report: ReadReport

    def __len__(self) -> int:
        return len(self.texts)


def _check_label(value: int, line: int) -> int:
    if not 0 <= value < NUM_CLASSES:
        raise ValueError(f"label {value} out of range 0..{NUM_CLASSES - 1}")
    return value


def _parse_csv_line(line: str, lineno: int) -> tuple[str, int]:
    rows = list(csv.reader([line]))
    if len(rows) != 1 or len(rows[0]) != 3:
        n = len(rows[0]) if rows else 0
        raise ValueError(f"expected 3 columns (class, title, description), found {n}")
    cls, title, desc = rows[0]
    try:
        label = int(cls) - 1
    except ValueError:
        raise ValueError(f"class {cls!r} is not an integer 1..{NUM_CLASSES}") from None
    if not 0 <= label < NUM_CLASSES:
        raise ValueError(f"class {cls} out of range 1..{NUM_CLASSES}")
    text = f"{title} {desc}"
    return text, label


def _parse_json_line(line: str, lineno: int) -> tuple[str, int]:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(obj, dict) or "label" not in obj or "text" not in obj:
        raise ValueError('expected an object with "label" and "text"')
    label, text = obj["label"], obj["text"]
    if not isinstance(label, int) or isinstance(label, bool):
        raise ValueError(f"label {label!r} is not an integer 0..{NUM_CLASSES - 1}")
    if not isinstance(text, str):
        raise ValueError("text is not a string")
    return text, _check_label(label, lineno)


_PARSERS = {"csv": _parse_csv_line, "jsonl": _parse_json_line}


def detect_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".json", ".ndjson"):
        return "jsonl"
    if suffix == ".parquet":
        return "parquet"
    raise DataError(f"{path}: unknown data format {suffix!r}; expected .csv, .jsonl or .parquet")


def read_dataset(path: str | Path, skip_bad: bool = False, fmt: str | None = None) -> Dataset:
    """Read an AG News file (format from the suffix unless `fmt` is given)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    fmt = fmt or detect_format(path)
    if fmt == "parquet":
        return _read_parquet(path, skip_bad)
    parse = _PARSERS[fmt]
    report = ReadReport(str(path), fmt)
    texts: list[str] = []
    labels: list[int] = []
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise ValueError(f"undecodable bytes (not UTF-8) at byte {exc.start}") from None
                line = line.rstrip("\r\n")
                if not line.strip():
                    raise ValueError("empty line")
                text, label = parse(line, lineno)
                if not text.strip():
                    raise ValueError("empty text")
            except ValueError as exc:
                if not skip_bad:
                    raise DataError(f"{path}:{lineno}: {exc} (use --skip-bad to skip such rows)") from None
                report.skipped.append((lineno, str(exc)))
                continue
            texts.append(text)
            labels.append(label)
    report.rows = len(texts)
    if not texts:
        raise DataError(f"{path}: no usable rows")
    return Dataset(texts, labels, report)


def _read_parquet(path: Path, skip_bad: bool) -> Dataset:
    try:
        import pandas as pd

        frame = pd.read_parquet(path, columns=["label", "text"])
    except ImportError as exc:
        raise DataError(f"{path}: reading parquet needs pyarrow ({exc})") from None
    except (KeyError, ValueError) as exc:
        raise DataError(f"{path}: expected parquet columns 'label' and 'text' ({exc})") from None
    report = ReadReport(str(path), "parquet")
    texts, labels = [], []
    for row, (label, text) in enumerate(zip(frame["label"].tolist(), frame["text"].tolist()), start=1):
        problem = None
        if not isinstance(text, str) or not text.strip():
            problem = "empty text"
        elif not isinstance(label, int) or not 0 <= label < NUM_CLASSES:
            problem = f"label {label!r} out of range 0..{NUM_CLASSES - 1}"
        if problem:
            if not skip_bad:
                raise DataError(f"{path}: row {row}: {problem}")
            report.skipped.append((row, problem))
            continue
        texts.append(text)
        labels.append(int(label))
    report.rows = len(texts)
    if not texts:
        raise DataError(f"{path}: no usable rows")
    return Dataset(texts, labels, report)
