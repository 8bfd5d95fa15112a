"""The JSON files of a checkpoint folder, checked field by field when the folder is loaded.

A file that parses is not yet a file the app can use: `"accuracy": "high"` in test_metrics.json,
a 5-row confusion matrix or a ratio of 5 would load and then break a view at request time. So
every field a view, a tool or the self-test reads is checked here for its type, range and shape,
and the first wrong one raises `SchemaError` naming the file and the field:

    checkpoints/gru/test_metrics.json: accuracy must be a number in 0..1, got 'high'

Fields nobody reads may be absent or extra (older and newer files keep loading); a field that is
present must be right. Plain code, no schema library: each file's rules are one short function.
The loaders (`rnn_demo.checkpoint`, `.projection`, `.lessons`) turn `SchemaError` into their
own error types, so a bad field leaves the model out like any other damaged file.
"""
from __future__ import annotations

import math
import re
from pathlib import Path

SHA256_RE = re.compile(r"[0-9a-f]{64}")
MAX_TEXT = 2000  # characters in a free-text field (descriptions, paths, notes)
MAX_LIST = 100_000  # items in any list (epochs, confusion rows, ...): far above any real file
MISSING = object()


class SchemaError(ValueError):
    """A field of a checkpoint's JSON file with the wrong type, range or shape; names file and field."""


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def fail(path: Path, field: str, expected: str, value=MISSING) -> None:
    got = "it is missing" if value is MISSING else f"got {_shown(value)}"
    raise SchemaError(f"{path}: {field} must be {expected}, {got}")


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def number(value, path: Path, field: str, lo: float | None = None, hi: float | None = None) -> float:
    """A finite int or float (not a bool) within lo..hi (either may be open)."""
    if not is_number(value) or (lo is not None and value < lo) or (hi is not None and value > hi):
        if lo is not None and hi is not None:
            want = f"a number in {lo:g}..{hi:g}"
        else:
            want = f"a number >= {lo:g}" if lo is not None else f"a number <= {hi:g}" if hi is not None else "a number"
        fail(path, field, want, value)
    return value


def fraction(value, path: Path, field: str) -> float:
    return number(value, path, field, 0, 1)


def integer(value, path: Path, field: str, lo: int = 0, hi: int | None = None) -> int:
    if (not isinstance(value, int) or isinstance(value, bool) or value < lo
            or (hi is not None and value > hi)):
        fail(path, field, f"an integer in {lo}..{hi}" if hi is not None else f"an integer >= {lo}", value)
    return value


def text(value, path: Path, field: str, max_len: int = MAX_TEXT, empty: bool = True) -> str:
    if not isinstance(value, str) or len(value) > max_len or (not empty and not value.strip()):
        fail(path, field, f"{'a' if empty else 'a non-empty'} string of at most {max_len:,} characters", value)
    return value


def sha256(value, path: Path, field: str) -> str:
    if not isinstance(value, str) or not SHA256_RE.fullmatch(value):
        fail(path, field, "a sha256 (64 lowercase hex digits)", value)
    return value


def obj(value, path: Path, field: str) -> dict:
    if not isinstance(value, dict):
        fail(path, field, "a JSON object", value)
    return value


def array(value, path: Path, field: str, length: int | None = None, min_len: int = 0) -> list:
    if length is not None:
        if not isinstance(value, list) or len(value) != length:
            fail(path, field, f"a list of {length} item(s)", value)
    elif not isinstance(value, list) or not min_len <= len(value) <= MAX_LIST:
        fail(path, field, f"a list of {min_len}..{MAX_LIST:,} items", value)
    return value


def scalar(value, path: Path, field: str):
    """A value shown as it is in a table: string, finite number, true/false or null."""
    if not (value is None or isinstance(value, (str, bool)) or is_number(value)) or (
            isinstance(value, str) and len(value) > MAX_TEXT):
        fail(path, field, "a string, number, true/false or null", value)
    return value


def optional(data: dict, key: str, check, path: Path, field: str | None = None, *args, **kwargs):
    """check(data[key], path, field, ...) when the key is present (null counts as present)."""
    if key in data:
        return check(data[key], path, field or key, *args, **kwargs)
    return None


def class_names(value, path: Path, field: str = "class_names") -> list[str]:
    names = array(value, path, field, min_len=1)
    for i, name in enumerate(names):
        text(name, path, f"{field}[{i}]", max_len=100, empty=False)
    if len(set(names)) != len(names):
        fail(path, field, "a list of distinct names", value)
    return names


# ------------------------------------------------------------------ config.json

MODEL_TYPES = {"cell": str, "pooling": str, "bidirectional": bool}


def check_config(config: dict, path: Path) -> None:
    """config.json beyond what `rnn_demo.checkpoint` checks itself (format, preset, sizes, tokenizer)."""
    optional(config, "description", text, path)
    class_names(config.get("class_names", MISSING), path)
    optional(config, "num_parameters", integer, path)
    model = config["model"]  # an object: checked by the caller before
    for key, kind in MODEL_TYPES.items():
        if key in model and not isinstance(model[key], kind):
            fail(path, f"model.{key}", "true or false" if kind is bool else "a string", model[key])
    if "dropout" in model:
        number(model["dropout"], path, "model.dropout", 0, 1)
    optional(model, "pad_id", integer, path, "model.pad_id")


# ------------------------------------------------------------------ metrics.json (training)

EPOCH_NUMBERS = {"train_loss": (0, None), "val_loss": (0, None), "train_accuracy": (0, 1),
                 "val_accuracy": (0, 1), "seconds": (0, None), "samples_per_s": (0, None)}
DATA_COUNTS = ("rows", "skipped_rows", "train_rows", "val_rows", "file_rows")


def check_data_info(data, path: Path, field: str) -> dict:
    """The "data" object of metrics, test metrics and lessons: which file, how many rows, its sha256."""
    obj(data, path, field)
    optional(data, "path", text, path, f"{field}.path")
    optional(data, "format", text, path, f"{field}.format")
    for key in DATA_COUNTS:
        optional(data, key, integer, path, f"{field}.{key}")
    if data.get("sha256") is not None:  # a dry run records null: there is no file
        sha256(data["sha256"], path, f"{field}.sha256")
    optional(data, "unknown_token_rate", fraction, path, f"{field}.unknown_token_rate")
    return data


def check_metrics(metrics: dict, path: Path) -> None:
    """metrics.json as written by training: the model card and the training curves read it."""
    optional(metrics, "preset", text, path)
    epochs = array(metrics.get("epochs", []), path, "epochs")
    numbers = []
    for i, record in enumerate(epochs):
        obj(record, path, f"epochs[{i}]")
        numbers.append(integer(record.get("epoch", i + 1), path, f"epochs[{i}].epoch", lo=1))
        for key, (lo, hi) in EPOCH_NUMBERS.items():
            optional(record, key, number, path, f"epochs[{i}].{key}", lo, hi)
    if "best_epoch" in metrics:
        best = integer(metrics["best_epoch"], path, "best_epoch", lo=1)
        if numbers and best not in numbers:
            fail(path, "best_epoch", f"one of the epochs listed ({numbers[0]}..{numbers[-1]})", best)
    optional(metrics, "best_val_accuracy", fraction, path)
    optional(metrics, "train_seconds", number, path, None, 0)
    optional(metrics, "samples_per_s", number, path, None, 0)
    optional(metrics, "vocab_size", integer, path)
    optional(metrics, "num_parameters", integer, path)
    optional(metrics, "data", check_data_info, path)
    for section in ("settings", "environment"):  # shown as a table of settings: scalars only
        if section in metrics:
            for key, value in obj(metrics[section], path, section).items():
                scalar(value, path, f"{section}.{key}")
    settings = metrics.get("settings", {})
    for key in ("max_len", "batch_size", "epochs"):
        optional(settings, key, integer, path, f"settings.{key}", 1)


# ------------------------------------------------------------------ test_metrics.json

def check_test_metrics(report: dict, path: Path, names: tuple[str, ...]) -> None:
    """test_metrics.json as written by `rnn_demo.evaluate --save`, for a model with classes `names`."""
    fraction(report.get("accuracy", MISSING), path, "accuracy")
    optional(report, "macro_f1", fraction, path)
    optional(report, "n", integer, path)
    optional(report, "seconds", number, path, None, 0)
    optional(report, "checkpoint", text, path)
    optional(report, "data", check_data_info, path)
    if "class_names" in report and report["class_names"] != list(names):
        fail(path, "class_names", f"the model's class names {list(names)}", report["class_names"])
    k = len(names)
    confusion = array(report.get("confusion", MISSING), path, "confusion", length=k)
    for i, row in enumerate(confusion):
        for j, count in enumerate(array(row, path, f"confusion[{i}]", length=k)):
            integer(count, path, f"confusion[{i}][{j}]")
    if "n" in report and sum(map(sum, confusion)) != report["n"]:
        fail(path, "confusion", f"counts that add up to n={report['n']:,}", sum(map(sum, confusion)))
    per_class = obj(report.get("per_class", {}), path, "per_class")
    for name, scores in per_class.items():
        if name not in names:
            fail(path, f"per_class.{name}", f"named after one of the model's classes {list(names)}", name)
        obj(scores, path, f"per_class.{name}")
        for key in ("precision", "recall", "f1"):
            fraction(scores.get(key, MISSING), path, f"per_class.{name}.{key}")
        optional(scores, "support", integer, path, f"per_class.{name}.support")


# ------------------------------------------------------------------ projection.json

REFERENCE_COUNTS = ("rows", "per_class", "seed", "file_rows", "max_len", "words")


def check_projection_meta(meta: dict, path: Path, directions: int, components: int) -> None:
    """projection.json (its format and direction count are checked by the caller)."""
    sha256(meta.get("weights_sha256", MISSING), path, "weights_sha256")
    optional(meta, "checkpoint", text, path)
    optional(meta, "hidden_size", integer, path, None, 1)
    if "components" in meta and meta["components"] != components:
        fail(path, "components", f"{components}", meta["components"])
    if "explained_variance_ratio" in meta:
        ratios = array(meta["explained_variance_ratio"], path, "explained_variance_ratio", length=directions)
        for d, row in enumerate(ratios):
            for c, value in enumerate(array(row, path, f"explained_variance_ratio[{d}]", length=components)):
                fraction(value, path, f"explained_variance_ratio[{d}][{c}]")
    for key in ("fitted_on", "cloud"):
        optional(meta, key, text, path)
    if "reference" in meta:  # the model card quotes rows, per_class, seed and file
        ref = obj(meta["reference"], path, "reference")
        text(ref.get("file", MISSING), path, "reference.file")
        for key in REFERENCE_COUNTS:
            if key in ("rows", "per_class", "seed") or key in ref:
                integer(ref.get(key, MISSING), path, f"reference.{key}")
        if "sha256" in ref:
            sha256(ref["sha256"], path, "reference.sha256")
