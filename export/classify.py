"""Batch classification of headlines with an exported model on onnxruntime (no torch needed).

    python -m export.classify --model exports/bilstm.onnx --input headlines.jsonl --output topics.csv
    python -m export.classify --engine ray --model exports/bilstm.onnx --input 'news/*.parquet' --output topics/

Reads plain text, CSV, JSON lines or Parquet as a stream of chunks (export.batch_io), classifies
each chunk in length-sorted batches on worker processes (export.workers) or, with --engine ray,
on the actors of a Ray cluster (export.ray_engine, imported only then), and writes one row per
valid input row in input order to a file that appears only once the whole run has succeeded.
Formats, bad rows and the data-safety rules: docs/export.md; the Ray engine: docs/ray.md.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from collections import deque
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .batch_io import (DEFAULT_BATCH, DEFAULT_CHUNK_SIZE, INPUT_FORMATS, OUTPUT_FORMATS, BadLineError, BadRows,
                       Chunk, Destination, OutputPathError, OutputWriteError, ReadStats, RunError, Writer,
                       check_accounted, check_classified, check_paths, input_format, is_regular_file,
                       note_last_padded, output_format, read_chunks, report_done, stop_signals)
from .runtime import DEFAULT_MAX_LEN, DEVICES, OnnxPredictor, ProviderUnavailableError
from .workers import STOP_TIMEOUT, ProcessWorkers, ThreadWorker, classify_texts, start_early


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


# -- CLI ------------------------------------------------------------------------------------
ENGINES = ("local", "ray")
DEFAULT_STALL_TIMEOUT = 600  # seconds (--stall-timeout)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m export.classify", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True, help="exported model, e.g. exports/bilstm.onnx")
    parser.add_argument("--input", type=Path, required=True,
                        help="headlines: .txt, .csv, .jsonl or .parquet; --engine ray also reads a folder or a "
                             "(quoted) glob of such shards")
    parser.add_argument("--output", type=Path,
                        help="result file (.csv or .jsonl); default: CSV on stdout. --engine ray with a folder or "
                             "glob input: a folder that gets one result file per input shard")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --output (or result shard)")
    parser.add_argument("--stream", action="store_true",
                        help="without --output: print results chunk by chunk instead of after the whole run "
                             "(a later bad line can then stop a run whose first results were printed)")
    parser.add_argument("--batch-size", type=int,
                        help="headlines per onnxruntime call (default "
                             + ", ".join(f"{n} on {d.upper()}" for d, n in DEFAULT_BATCH.items()) + ")")
    parser.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE,
                        help=f"rows read and length-sorted together; bounds memory (default {DEFAULT_CHUNK_SIZE})")
    parser.add_argument("--device", choices=DEVICES, default="auto",
                        help="auto: CUDA if it really works (--engine ray: if the cluster has GPUs), else CPU; "
                             "cuda: fail if it does not (default auto)")
    parser.add_argument("--tokenizer", type=Path,
                        help="tokenizer.json or checkpoint folder (default: NAME.tokenizer.json beside the model)")
    parser.add_argument("--format", choices=INPUT_FORMATS, default="auto", help="input format (default: by extension)")
    parser.add_argument("--output-format", choices=OUTPUT_FORMATS, default="auto",
                        help="output format (default: by extension of --output, else csv)")
    parser.add_argument("--text-column", default="text",
                        help="CSV or Parquet column / JSON field with the text (default: text)")
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
    ray = parser.add_argument_group("Ray engine (pip install -r requirements-ray.txt; docs/ray.md)")
    ray.add_argument("--engine", choices=ENGINES, default="local",
                     help="local: worker processes on this machine; ray: actors on a Ray cluster (default local)")
    ray.add_argument("--address",
                     help="the Ray cluster: host:port, or auto on one of its nodes (default: $RAY_ADDRESS, as "
                          "set inside `ray job submit`, else a local Ray started and stopped by this run)")
    ray.add_argument("--actors", type=int,
                     help="model actors, each with one onnxruntime session on 1 CPU, or with --device cuda on "
                          "1 GPU + 1 CPU (default: as many as the cluster's free CPUs, or GPUs, hold)")
    ray.add_argument("--stall-timeout", type=int, default=DEFAULT_STALL_TIMEOUT,
                     help="fail the run when no chunk has come back for this many seconds "
                          f"(default {DEFAULT_STALL_TIMEOUT})")
    return parser


# Off: Ray takes 127.0.0.1 as this node's address (on by default on Linux: the network address).
LOOPBACK_RAY = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def classify(args: argparse.Namespace) -> int:
    if args.engine == "ray":
        if not (args.address or os.environ.get("RAY_ADDRESS")):
            # The Ray this run starts keeps its traffic on the loopback interface, not the machine's
            # network address (Ray reads this setting when it is imported).
            os.environ.setdefault(LOOPBACK_RAY, "0")
        from .ray_engine import classify_ray  # ray is an optional install; the local engine never imports it
        return classify_ray(args)
    check_paths(args.input, args.output, args.overwrite)
    regular = is_regular_file(args.input)  # else a pipe or /dev/stdin: read as it comes, size unknown
    if regular and args.input.stat().st_size == 0:
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
    note_last_padded(predictor)
    fmt = input_format(args.input, args.format)
    out_fmt = output_format(args.output, args.output_format)

    destination = None
    stats = ReadStats()
    bad_rows = BadRows(args.skip_bad, lambda message: tqdm.write(message, file=sys.stderr))
    started = time.perf_counter()
    done = 0
    ok = False
    bar = tqdm(total=args.input.stat().st_size if regular else None, unit="B", unit_scale=True,
               disable=args.no_progress, file=sys.stderr)
    chunks = read_chunks(args.input, fmt, args.text_column, chunk_size,
                         lambda lineno, error: bad_rows(args.input, lineno, error), stats)
    pool = None
    try:
        destination = Destination(args.output, args.stream, args.overwrite)
        writer = Writer(destination.file, out_fmt, predictor.class_names)
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
        check_classified(args.input, stats.rows, done, fmt == "csv")
        check_accounted(args.input, stats, done, bad_rows.skipped)
        ok = True
    finally:
        with stop_signals.held():  # a second Ctrl-C or SIGTERM must not cut this short
            if pool is not None:
                pool.close(STOP_TIMEOUT if ok else 0)
            bar.close()
            chunks.close()
            if destination is not None:
                if ok:
                    destination.commit()
                else:
                    destination.discard()
    report_done(done, time.perf_counter() - started, predictor.provider, bad_rows.skipped,
                args.output if args.output is not None else "stdout")
    return 0


_RAY_ONLY = ("address", "actors")
_LOCAL_ONLY = ("stream", "no_overlap", "threads")


def _usage_error(args: argparse.Namespace) -> str | None:
    for name in ("batch_size", "chunk_size", "threads", "actors", "stall_timeout"):
        value = getattr(args, name)
        if value is not None and value < 1:
            return f"--{name.replace('_', '-')} must be >= 1"
    wrong = [name for name in (_LOCAL_ONLY if args.engine == "ray" else _RAY_ONLY) if getattr(args, name)]
    if wrong:
        return (", ".join(f"--{name.replace('_', '-')}" for name in wrong)
                + (" belong to the local engine (the Ray engine sizes its actors with --actors)"
                   if args.engine == "ray" else " belong to --engine ray"))
    return None


def main(argv: list[str] | None = None, exiting: bool = False) -> int:
    """The CLI; `exiting`: the process ends right after, so signals stay counted (not acted on)
    until it has (no traceback from a late Ctrl-C)."""
    args = build_parser().parse_args(argv)
    problem = _usage_error(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    unwritten = (f"{args.output} was not written" if args.output is not None else
                 "the results printed so far are incomplete" if args.stream else "nothing was printed")
    # Ctrl-C and SIGTERM: the run stops and cleans up (nothing written, workers stopped), however
    # many of them come (batch_io.StopSignals)
    stop_signals.install()
    try:
        try:
            return classify(args)
        finally:
            stop_signals.ignore_from_now()  # the run is over; what follows only reports it
    except BadLineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"interrupted: {unwritten}", file=sys.stderr)
        return 130
    except BrokenProcessPool as exc:
        print(f"error: a worker process died ({exc}): {unwritten}", file=sys.stderr)
        return 1
    except OutputWriteError as exc:  # its message says what was left
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except RunError as exc:
        print(f"error: {exc}: {unwritten}", file=sys.stderr)
        return 1
    except (OutputPathError, ProviderUnavailableError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # e.g. the input cannot be read: one line, not a traceback
        print(f"error: {exc.filename or args.input}: {exc.strerror or exc}: {unwritten}", file=sys.stderr)
        return 1
    finally:
        if exiting:
            stop_signals.ignore_until_exit()
        else:
            stop_signals.restore()


if __name__ == "__main__":
    sys.exit(main(exiting=True))
