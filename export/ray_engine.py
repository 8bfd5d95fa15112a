"""The Ray Data engine of export.classify (`--engine ray`): the local engine's chunks, answers and
data-safety rules, with the chunks classified by actors on every node (and GPU) of a Ray cluster.

    python -m export.classify --engine ray --model exports/bilstm.onnx --input 'news/*.jsonl' --output topics/
    python -m export.classify --engine ray --address auto --device cuda --model exports/bilstm.onnx \\
        --input news.csv --output topics.csv

    driver      expands the input into shards, refuses unsafe outputs, checks the model once
    read tasks  on the driver's node, no CPU asked, one per shard: export.batch_io.read_chunks,
                one dataset row per chunk {shard, lines, texts, the bad rows met on the way}
    actors      one onnxruntime session each (1 CPU, or 1 GPU + 1 CPU): tokenize, classify and
                format a chunk exactly as a local worker process does -> {shard, out, bad rows}
    driver      takes the chunks in input order (preserve_order), stops at or reports each bad
                row as the local engine does, writes `out` to the shard's temporary file, and
                renames every file into place only once the whole run has succeeded

Why these resources: an actor holds its CPU for the whole run, so a stage that asks for a CPU
the actors hold waits forever (two 1-CPU actors and 1-CPU read tasks on a 2-CPU node hang
without a word). Read tasks therefore ask for no CPU (they run beside the actors, as the local
engine's main process runs beside its workers) and the actor count is what the cluster's free
CPUs (GPUs) hold: asking for more is an error before anything starts, and Ray Data's
no-progress timeout (--stall-timeout) ends a run that still stops moving. docs/ray.md says when
this engine pays off and how to run it on a cluster.
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import glob
import io
import logging
import math
import os
import re
import sys
import tempfile
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pyarrow as pa
import pyarrow.compute  # noqa: F401 - pa.compute
import ray
import ray.data
from ray.data import ActorPoolStrategy, DataContext
from ray.data.block import BlockMetadata
from ray.data.datasource import Datasource, ReadTask
from tqdm import tqdm

from .batch_io import (DEFAULT_BATCH, BadLineError, BadRows, Destination, FatalInputError, OutputPathError, ReadStats,
                       RunError, Writer, check_accounted, check_classified, check_paths, input_format,
                       note_last_padded, output_format, read_chunks, read_rows, report_done, stop_signals)
from .runtime import OnnxPredictor, ProviderUnavailableError
from .workers import classify_texts

SHARD_SUFFIXES = (".txt", ".csv", ".jsonl", ".json", ".ndjson", ".parquet")  # what a folder's listing keeps
READ_CONCURRENCY = 2     # shards read at once (a read task feeds many actors: docs/ray.md)


# -- inputs and outputs -----------------------------------------------------------------------
def expand_input(spec: Path, requested_format: str) -> tuple[list[Path], bool]:
    """(the input files in order, whether `spec` names shards: a folder or a glob).

    A folder gives its files in name order, leaving out hidden ones and Spark-style markers
    (names starting with "." or "_") and, without --format, files of no known extension.
    """
    if spec.is_file():
        return [spec], False
    if spec.is_dir():
        files = [p for p in sorted(spec.iterdir()) if p.is_file() and not p.name.startswith((".", "_"))
                 and (requested_format != "auto" or p.suffix.lower() in SHARD_SUFFIXES)]
        if not files:
            raise OutputPathError(f"{spec}: no input shards in this folder (files ending in "
                                  f"{', '.join(SHARD_SUFFIXES)}, or any file with --format)")
        return files, True
    if spec.exists():
        raise OutputPathError(f"{spec} is not a file (a pipe or /dev/stdin?): the Ray engine's read tasks read "
                              "files; classify a pipe with the local engine")
    if glob.has_magic(str(spec)):
        files = sorted(Path(p) for p in glob.glob(str(spec), recursive=True) if Path(p).is_file())
        if not files:
            raise OutputPathError(f"{spec}: no file matches")
        return files, True
    raise OutputPathError(f"{spec}: input file not found")


def plan_outputs(shards: list[Path], several: bool, output: Path | None, out_fmt: str,
                 overwrite: bool) -> list[Path | None]:
    """One result file per shard (None: stdout), after the local engine's checks for each; for
    shards, OUTPUT/<shard name>.<format>, none of which may be an input shard."""
    if not several:
        check_paths(shards[0], output, overwrite)
        return [output]
    if output is None:
        raise OutputPathError("a folder or glob input needs --output FOLDER (one result file per shard)")
    if output.exists() and not output.is_dir():
        raise OutputPathError(f"--output {output} is a file; a folder or glob input writes one result file "
                              "per shard into a folder")
    targets = [output / f"{shard.stem}.{out_fmt}" for shard in shards]
    first: dict[Path, Path] = {}
    for shard, target in zip(shards, targets):
        if target in first:
            raise OutputPathError(f"shards {first[target]} and {shard} would both be written to {target}; "
                                  "give them different names")
        first[target] = shard
    inputs = {(s.st_dev, s.st_ino): shard for shard in shards for s in [shard.stat()]}
    for shard, target in zip(shards, targets):
        check_paths(shard, target, overwrite)
        if target.exists() and (target.stat().st_dev, target.stat().st_ino) in inputs:
            raise OutputPathError(f"--output {target} is the input shard "
                                  f"{inputs[target.stat().st_dev, target.stat().st_ino]}; writing there would "
                                  "destroy it")
    return targets


def check_readable(shard: Path, fmt: str, text_column: str) -> None:
    """Read a shard's first row now, so a missing column or an unreadable header stops the run
    here with the local engine's message rather than inside a read task."""
    rows = read_rows(shard, fmt, text_column)
    next(rows, None)
    rows.close()


# -- read tasks -------------------------------------------------------------------------------
def _chunk_row(shard: int, lines: list[int], texts: list[str], bad: list[tuple[int, str]]) -> pa.Table:
    """One dataset row: a chunk of valid rows and the bad rows read since the previous chunk."""
    bad_lines = [lineno for lineno, _ in bad]
    return pa.table({
        "shard": pa.array([shard], pa.int32()),
        "first": pa.array([min(lines[:1] + bad_lines[:1])], pa.int64()),   # lines spanned, bad rows included
        "last": pa.array([max(lines[-1:] + bad_lines[-1:])], pa.int64()),
        "lines": pa.array([lines], pa.list_(pa.int64())),
        "texts": pa.array([texts], pa.list_(pa.string())),
        "bad_lines": pa.array([bad_lines], pa.list_(pa.int64())),
        "bad_errors": pa.array([[error for _, error in bad]], pa.list_(pa.string())),
    })


def _read_shard(shard: int, path: str, fmt: str, text_column: str, chunk_size: int) -> Iterator[pa.Table]:
    """A read task: the shard's chunks exactly as the local engine reads them."""
    bad: list[tuple[int, str]] = []
    for chunk in read_chunks(Path(path), fmt, text_column, chunk_size,
                             lambda lineno, error: bad.append((lineno, error)), ReadStats()):
        yield _chunk_row(shard, chunk.lines, chunk.texts, bad)
        bad.clear()
    if bad:  # bad rows after the last valid one
        yield _chunk_row(shard, [], [], bad)


class ShardSource(Datasource):
    """Ray Data source: one read task per shard, each yielding one row per chunk."""

    def __init__(self, shards: list[tuple[Path, str]], text_column: str, chunk_size: int) -> None:
        super().__init__()
        self.shards, self.text_column, self.chunk_size = shards, text_column, chunk_size

    def estimate_inmemory_data_size(self) -> int:
        return sum(path.stat().st_size for path, _ in self.shards)

    @property
    def supports_distributed_reads(self) -> bool:
        return False  # read tasks run on the driver's node: only it needs to see the input files

    def get_read_tasks(self, parallelism: int, per_task_row_limit: int | None = None,
                       data_context: DataContext | None = None) -> list[ReadTask]:
        return [ReadTask(functools.partial(_read_shard, index, str(path), fmt, self.text_column, self.chunk_size),
                         BlockMetadata(num_rows=None, size_bytes=path.stat().st_size, input_files=[str(path)],
                                       exec_stats=None))
                for index, (path, fmt) in enumerate(self.shards)]


# -- actors -----------------------------------------------------------------------------------
class ChunkClassifier:
    """A Ray Data actor: one onnxruntime session; chunk rows in, their formatted result rows out."""

    def __init__(self, model: bytes, tokenizer: bytes, device: str, max_len: int, batch_size: int,
                 out_fmt: str) -> None:
        # the model travels as bytes (in Ray's object store): no node but the driver's needs the files
        with tempfile.TemporaryDirectory(prefix="classify-actor.") as tmp:
            model_path, tokenizer_path = Path(tmp) / "model.onnx", Path(tmp) / "model.tokenizer.json"
            model_path.write_bytes(model)
            tokenizer_path.write_bytes(tokenizer)
            self.predictor = OnnxPredictor(model_path, tokenizer_path, device=device, max_len=max_len, threads=1)
        self.batch_size, self.out_fmt = batch_size, out_fmt
        self.where = f"{ray.get_runtime_context().get_node_id()[:8]} {self.predictor.provider}"

    def __call__(self, batch: pa.Table) -> pa.Table:
        outs = []
        for lines, texts in zip(batch.column("lines").to_pylist(), batch.column("texts").to_pylist()):
            out = io.StringIO()
            if texts:  # tokenized, length-sorted and run as a local worker does (export.workers)
                probs = classify_texts(self.predictor, texts, self.batch_size)
                Writer(out, self.out_fmt, self.predictor.class_names, header=False).write(lines, texts, probs)
            outs.append(out.getvalue())
        rows = pa.compute.list_value_length(batch.column("lines")).cast(pa.int64())
        return (batch.drop_columns(["lines", "texts"])
                .append_column("rows", rows)
                .append_column("out", pa.array(outs, pa.large_string()))
                .append_column("where", pa.array([self.where] * batch.num_rows, pa.string())))


# -- resources --------------------------------------------------------------------------------
def actor_ask(device: str) -> dict[str, float]:
    return {"num_cpus": 1, "num_gpus": 1} if device == "cuda" else {"num_cpus": 1}


def plan_actors(device: str, requested: int | None, nodes: list[dict[str, float]], free: dict[str, float]) -> int:
    """How many actors to start: `requested`, else as many as the cluster's free resources hold.

    nodes: each alive node's resources (Ray's "CPU", "GPU"); free: what the cluster has free now.
    An actor asks one CPU (with --device cuda one GPU and one CPU); a node holds as many as its
    whole CPUs (GPUs) give. Asking for more than fit is a ValueError before anything starts.
    """
    def held(resources: dict[str, float]) -> int:
        cpus = math.floor(resources.get("CPU", 0) + 1e-9)
        return min(cpus, math.floor(resources.get("GPU", 0) + 1e-9)) if device == "cuda" else cpus

    fit = min(sum(held(node) for node in nodes), held(free))
    unit = "GPU and 1 CPU" if device == "cuda" else "CPU"
    where = (f"{len(nodes)} node{'s' if len(nodes) != 1 else ''} with "
             f"{sum(n.get('CPU', 0) for n in nodes):g} CPUs and {sum(n.get('GPU', 0) for n in nodes):g} GPUs, "
             f"{free.get('CPU', 0):g} CPUs and {free.get('GPU', 0):g} GPUs free")
    if fit == 0:
        raise ValueError(f"no actor fits: each asks for 1 {unit}, and the cluster has {where}")
    if requested is not None and requested > fit:
        raise ValueError(f"--actors {requested} cannot all start: each asks for 1 {unit}, and the cluster "
                         f"({where}) holds {fit}; ask for at most {fit}, or add nodes")
    return requested or fit


# -- the run ----------------------------------------------------------------------------------
MAX_WAITING_OPEN = 64  # finished unnamed shard files held open; later ones wait under hidden names


class ShardOutputs:
    """The result files, one per shard, opened in shard order (one at a time) and committed together.

    Each is a batch_io.Destination: unnamed until the commit where the system allows, so a run
    that ends in any way, SIGKILL included, leaves no file. A finished unnamed file must stay
    open to stay alive; beyond MAX_WAITING_OPEN of them, the next ones wait under hidden names."""

    def __init__(self, targets: list[Path | None], out_fmt: str, class_names: tuple[str, ...],
                 overwrite: bool = False) -> None:
        self.targets, self.out_fmt, self.class_names, self.overwrite = targets, out_fmt, class_names, overwrite
        self.destinations: list[Destination] = []

    def at(self, shard: int) -> Destination:
        """The shard's file; the files of the shards before it are complete (a shard without any
        row, e.g. an empty file, gets the CSV header alone)."""
        while len(self.destinations) <= shard:
            if self.destinations:
                waiting = sum(d.unnamed for d in self.destinations[:-1])
                self.destinations[-1].close(keep_open=waiting < MAX_WAITING_OPEN)
            destination = Destination(self.targets[len(self.destinations)], overwrite=self.overwrite)
            self.destinations.append(destination)
            Writer(destination.file, self.out_fmt, self.class_names)  # the CSV header
        return self.destinations[shard]

    def commit(self) -> None:
        """Every file into place (Ctrl-C and SIGTERM are only counted meanwhile: no half-committed set)."""
        self.at(len(self.targets) - 1)
        with stop_signals.held():
            for destination in self.destinations:
                destination.commit()

    def discard(self) -> None:
        """Forget every file; the first shard's, which made any new folder, last (so that the
        folder is empty by then and goes too)."""
        for destination in reversed(self.destinations):
            destination.discard()


_OWN_ERRORS = {error.__name__: error for error in (FatalInputError, BadLineError, OutputPathError,
                                                   ProviderUnavailableError)}
# how Ray writes such an error into the message of an error it raises instead (e.g. ActorDiedError)
_OWN_ERROR_LINE = re.compile(rf"^export\.\w+\.({'|'.join(_OWN_ERRORS)}): (.+)$", re.MULTILINE)


def _cause(exc: BaseException) -> BaseException:
    """The error of ours that a read task or an actor raised, out of Ray's wrappers (else `exc`)."""
    seen: set[int] = set()
    todo: list[object] = [exc]
    text = []
    while todo:
        current = todo.pop(0)
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, tuple(_OWN_ERRORS.values())) and not isinstance(current, ray.exceptions.RayError):
            return current
        text.append(str(current))
        # ray.exceptions.RayTaskError keeps the original exception in .cause
        todo += [getattr(current, "cause", None), current.__cause__, current.__context__]
    found = [match for part in text for match in _OWN_ERROR_LINE.finditer(part)]
    return _OWN_ERRORS[found[-1][1]](found[-1][2]) if found else exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


@contextlib.contextmanager
def ray_session(address: str | None) -> Iterator[None]:
    """Ray for one run: the cluster at `address` ($RAY_ADDRESS when None), else a local Ray that
    this run starts (without dashboard) and stops; a caller's own session is used and kept."""
    if ray.is_initialized():
        yield
        return
    quiet = {"logging_level": logging.WARNING, "log_to_driver": True}
    try:
        if address or os.environ.get("RAY_ADDRESS"):
            ray.init(address=address, **quiet)
        else:  # "local": a new Ray even where `ray start` left one running (plain ray.init() would join it)
            ray.init(address="local", include_dashboard=False, **quiet)
    except BaseException as exc:
        if ray.is_initialized():  # half connected: leave nothing for the next run in this process
            ray.shutdown()
        if isinstance(exc, ConnectionError):
            raise ValueError(
                f"cannot join the Ray cluster at {address or os.environ.get('RAY_ADDRESS')} ({exc}); where the "
                "cluster uses token authentication set RAY_AUTH_MODE=token, with the token in ~/.ray/auth_token "
                "or $RAY_AUTH_TOKEN (Ray sends it to an explicit address only when asked to)") from None
        raise
    stop_signals.install()  # ray.init installs its own SIGTERM handler, which exits without cleaning up
    try:
        yield
    finally:
        ray.shutdown()


@contextlib.contextmanager
def data_settings(stall_timeout: int) -> Iterator[None]:
    """Ray Data settings of a run (restored afterwards)."""
    context = DataContext.get_current()
    settings = {
        "target_max_block_size": 1,          # every chunk row its own block: the chunks spread over the actors
        "enable_progress_bars": False,       # one progress bar, ours
        "print_on_execution_start": False,
        "execution_no_progress_timeout_s": stall_timeout,  # a run that stops moving fails instead of waiting
        "wait_for_min_actors_s": stall_timeout,
    }
    saved = {name: getattr(context, name) for name in settings}
    saved_order = context.execution_options.preserve_order
    for name, value in settings.items():
        setattr(context, name, value)
    context.execution_options.preserve_order = True  # chunks come back in input order
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():  # a small input has fewer chunks than there are actors: fine
            warnings.filterwarnings("ignore", message="The minimum number of concurrent actors")
            yield
    finally:
        for name, value in saved.items():
            setattr(context, name, value)
        context.execution_options.preserve_order = saved_order


def build_dataset(shards: list[tuple[Path, str]], args: argparse.Namespace, device: str, actors: int,
                  out_fmt: str, model: bytes, tokenizer: bytes) -> ray.data.Dataset:
    batch_size = args.batch_size or DEFAULT_BATCH[device]
    dataset = ray.data.read_datasource(ShardSource(shards, args.text_column, max(args.chunk_size, batch_size)),
                                       num_cpus=0, concurrency=min(READ_CONCURRENCY, len(shards)))
    return dataset.map_batches(
        ChunkClassifier, batch_size=1, batch_format="pyarrow", zero_copy_batch=True,
        fn_constructor_kwargs={"model": model, "tokenizer": tokenizer, "device": device, "max_len": args.max_len,
                               "batch_size": batch_size, "out_fmt": out_fmt},
        compute=ActorPoolStrategy(size=actors), **actor_ask(device))


@dataclass
class Tally:
    rows: int = 0      # rows seen, valid or not
    done: int = 0      # rows classified
    chunks: Counter = field(default_factory=Counter)  # chunks per actor's node and provider
    first: tuple[float, int] | None = None  # (perf_counter, rows done) when the first chunk came back
    last: float = 0.0                       # perf_counter when the last one did

    def after_start(self, started: float) -> str:
        """When the first results came, and the rate from then on (the start cost left out)."""
        if self.first is None:
            return "no results"
        at, rows = self.first
        text = f"first results after {at - started:.1f} s"
        if self.last > at:
            text += f", then {(self.done - rows) / (self.last - at):,.0f} rows/s"
        return text


def collect(dataset: ray.data.Dataset, shards: list[Path], outputs: ShardOutputs, bad_rows: BadRows,
            bar: tqdm) -> Tally:
    """The classified chunks in input order, into their shards' files; bad rows as in the local engine."""
    tally = Tally()
    position = (-1, 0)  # (shard, last line) of the latest chunk: every chunk must come after it
    try:
        for block in dataset.iter_batches(batch_size=None, batch_format="pyarrow"):
            for row in block.to_pylist():
                shard = row["shard"]
                if (shard, row["first"]) <= position:
                    raise RunError(f"a chunk of {shards[shard]} (lines {row['first']}-{row['last']}) came back "
                                   f"out of order or twice (after line {position[1]} of shard {position[0]})")
                position = (shard, row["last"])
                for lineno, error in zip(row["bad_lines"], row["bad_errors"]):
                    bad_rows(shards[shard], lineno, error)
                outputs.at(shard).file.write(row["out"])
                tally.rows += row["rows"] + len(row["bad_lines"])
                tally.done += row["rows"]
                tally.chunks[row["where"]] += 1
                tally.last = time.perf_counter()
                if tally.first is None:
                    tally.first = (tally.last, tally.done)
                bar.update(row["rows"])
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 - Ray's wrappers: our own error out of them, or one clear line
        if isinstance(exc, (BadLineError, RunError)) and not isinstance(exc, ray.exceptions.RayError):
            raise  # raised here, in the driver
        # a read task's or an actor's error comes wrapped (RayTaskError(FatalInputError) is both
        # kinds, and its text is the whole remote traceback): the original out of it
        cause = _cause(exc)
        if cause is not exc:
            raise cause from None
        raise RunError(f"the Ray run failed ({_first_line(exc)})") from exc
    return tally


def classify_ray(args: argparse.Namespace) -> int:
    shards, several = expand_input(args.input, args.format)
    formats = [input_format(shard, args.format) for shard in shards]
    out_fmt = ((args.output_format if args.output_format != "auto" else "csv") if several
               else output_format(args.output, args.output_format))
    targets = plan_outputs(shards, several, args.output, out_fmt, args.overwrite)
    if not several and shards[0].stat().st_size == 0:
        raise BadLineError(f"{shards[0]} is empty: nothing to classify")
    for shard, fmt in zip(shards, formats):
        check_readable(shard, fmt, args.text_column)
    # the model is checked once here (tokenizer, metadata) on the CPU; the actors load their own copies
    predictor = OnnxPredictor(args.model, args.tokenizer, device="cpu", max_len=args.max_len, threads=1)
    note_last_padded(predictor)
    model, tokenizer = Path(args.model).read_bytes(), Path(predictor.tokenizer_path).read_bytes()
    predictor.model.close()

    started = time.perf_counter()
    outputs = ShardOutputs(targets, out_fmt, predictor.class_names, args.overwrite)
    bad_rows = BadRows(args.skip_bad, lambda message: tqdm.write(message, file=sys.stderr))
    bar = tqdm(unit=" rows", disable=args.no_progress, file=sys.stderr)
    ok = False
    try:
        with ray_session(args.address), data_settings(args.stall_timeout):
            nodes = [node["Resources"] for node in ray.nodes() if node.get("Alive")]
            device = args.device if args.device != "auto" else ("cuda" if any(n.get("GPU") for n in nodes) else "cpu")
            actors = plan_actors(device, args.actors, nodes, ray.available_resources())
            print(f"{predictor.name}: Ray {ray.__version__}, {len(nodes)} node{'s' if len(nodes) != 1 else ''}, "
                  f"{actors} actor{'s' if actors != 1 else ''} on {device.upper()}, {len(shards)} input "
                  f"shard{'s' if len(shards) != 1 else ''}", file=sys.stderr)
            dataset = build_dataset(list(zip(shards, formats)), args, device, actors, out_fmt, model, tokenizer)
            tally = collect(dataset, shards, outputs, bad_rows, bar)
        bar.close()
        source = shards[0] if not several else args.input
        check_classified(source, tally.rows, tally.done, all(fmt == "csv" for fmt in formats))
        check_accounted(source, ReadStats(tally.rows), tally.done, bad_rows.skipped)
        outputs.commit()
        ok = True
    finally:
        with stop_signals.held():  # a second Ctrl-C or SIGTERM must not cut the cleanup short
            bar.close()
            if not ok:
                outputs.discard()
    spread = ", ".join(f"{count} chunks on node {where}" for where, count in sorted(tally.chunks.items()))
    report_done(tally.done, time.perf_counter() - started, f"{actors} Ray actors ({spread}; "
                f"{tally.after_start(started)})", bad_rows.skipped, args.output if args.output is not None else "stdout")
    return 0
