"""Running an exported classifier over chunks of headlines, on every core (for export.classify).

    pool = ProcessWorkers(2, "exports/bilstm.onnx", "exports/bilstm.tokenizer.json", 200, 64)
    future = pool.submit(texts)          # -> (len(texts), C) float32 probabilities, in texts' order
    pool.close()

A chunk is tokenized at once, sorted by length and cut into batches of about one length (far
less padding for the recurrent kernel to run through); the logits are put back at each row's
position, so a chunk's results come out in its input order.

Why processes on the CPU: the fast tokenizer is Python (C-level `str` calls, but it holds the
GIL), and so are the reading and writing around it; onnxruntime is not. With threads, a worker
whose onnxruntime call has finished waits for the GIL while another thread tokenizes, and a core
idles. Each process runs one single-threaded session on small batches (64 by default), which
beat bigger batches on a multi-threaded session: the kernel's per-step buffers stay in the
core's cache and no step waits for pool threads. The measurements: docs/export.md.

Why a thread on CUDA: one GPU session takes big batches; a thread lets the reading and writing
overlap with it, and a CUDA context must not be forked.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Sequence

import numpy as np

from rnn_demo.fast_tokenizer import EncodedTexts, fast_encoder

from .runtime import OnnxModel, OnnxPredictor, softmax


def classify_encoded(model: OnnxModel, encoded: EncodedTexts, batch_size: int) -> np.ndarray:
    """(n,) tokenized rows -> (n, C) float32 probabilities in their order, run in length-sorted batches."""
    order = np.argsort(encoded.lengths, kind="stable")  # similar lengths share a batch: little padding
    logits = np.empty((len(encoded), len(model.class_names)), dtype=np.float32)
    for start in range(0, len(order), batch_size):
        rows = order[start: start + batch_size]
        tokens, lengths = encoded.batch(rows)            # (B, T) with T = longest in the batch, (B,)
        logits[rows] = model.logits(tokens, lengths)     # back to input positions
    return softmax(logits)


def classify_texts(predictor: OnnxPredictor, texts: Sequence[str], batch_size: int) -> np.ndarray:
    """texts -> (n, C) float32 probabilities: fast tokenizer, then length-sorted batches."""
    encoded = fast_encoder(predictor.vocab).encode(texts, predictor.max_len)
    return classify_encoded(predictor.model, encoded, batch_size)


STOP_TIMEOUT = 10.0  # seconds close() waits for workers to finish before it kills them


class ThreadWorker:
    """One session (e.g. on CUDA) run from one background thread."""

    count = 1

    def __init__(self, predictor: OnnxPredictor, batch_size: int) -> None:
        self.predictor, self.batch_size = predictor, batch_size
        self._pool: Executor = ThreadPoolExecutor(1, "classify")

    def submit(self, texts: list[str]) -> Future:
        return self._pool.submit(classify_texts, self.predictor, texts, self.batch_size)

    def close(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop the thread; a run that failed does not wait for the chunk it is on (the thread
        ends with it, and the interpreter waits for it at exit)."""
        self._pool.shutdown(wait=timeout > 0, cancel_futures=True)


# -- worker processes ---------------------------------------------------------------------
_PREDICTOR: OnnxPredictor | None = None  # this worker process's session (set by _start)
_BATCH = 0


def _exit_with_parent(alive: Connection) -> None:
    """Exit once the parent is gone. A parent that is killed sends no shutdown message, and a
    worker waiting for its next chunk would wait forever. Only the parent holds the other end
    of `alive`, so reading from it returns (EOFError) exactly when the parent's files close:
    at its exit, however it ends, even before anyone reaps it."""
    try:
        alive.recv_bytes()
    except (EOFError, OSError):
        pass
    os._exit(1)


def _start(alive: Connection, model: str, tokenizer: str, max_len: int, batch_size: int) -> None:
    global _PREDICTOR, _BATCH
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    threading.Thread(target=_exit_with_parent, args=(alive,), name="watch-parent", daemon=True).start()
    _PREDICTOR = OnnxPredictor(model, tokenizer, device="cpu", max_len=max_len, threads=1)
    _BATCH = batch_size


def _run(texts: list[str]) -> np.ndarray:
    return classify_texts(_PREDICTOR, texts, _BATCH)


def _context() -> multiprocessing.context.BaseContext:
    """forkserver where there is one: workers fork from a clean process that has imported this
    module once (never from the parent, whose threads may hold locks); else spawn."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([__name__])
        return context
    return multiprocessing.get_context("spawn")  # pragma: no cover - Windows


def start_early() -> None:
    """Start the forkserver now (it imports numpy, onnxruntime and this module), so that it is
    ready when the workers are needed; a no-op without a forkserver."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        _context()
        from multiprocessing import forkserver
        forkserver.ensure_running()


class ProcessWorkers:
    """`count` processes, each with its own single-threaded CPU session.

    As with any multiprocessing code, a script that uses this must guard its entry point with
    `if __name__ == "__main__":` (the workers import the main module)."""

    def __init__(self, count: int, model: str | Path, tokenizer: str | Path, max_len: int, batch_size: int) -> None:
        self.count = count
        context = _context()
        # the workers get copies of the read end as they start (on demand, so it stays open here)
        self._pipe = context.Pipe(duplex=False)  # (read end, write end)
        self._pool: Executor = ProcessPoolExecutor(
            count, mp_context=context, initializer=_start,
            initargs=(self._pipe[0], str(model), str(tokenizer), max_len, batch_size))

    def submit(self, texts: list[str]) -> Future:
        return self._pool.submit(_run, texts)

    def close(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop the workers: each may finish its chunk for up to `timeout` seconds (0 after a
        failed run: nobody needs its result), then it is killed. A worker that cannot end by
        itself (stopped with SIGSTOP, stuck) therefore never holds up the run's exit: SIGKILL
        ends even a stopped process.

        This reaches into the executor (its table of workers, its manager thread, its result
        pipe), because its own shutdown(wait=True) waits for running chunks without a limit."""
        pool = self._pool
        processes = list((pool._processes or {}).values())
        manager, results = pool._executor_manager_thread, pool._result_queue
        pool.shutdown(wait=False, cancel_futures=True)
        deadline = time.monotonic() + timeout
        for process in processes:
            process.join(max(0.0, deadline - time.monotonic()))
        for process in processes:
            if process.is_alive():
                process.kill()
        for process in processes:
            process.join(STOP_TIMEOUT)
        if manager is not None:  # it notices the killed workers, fails what was pending and ends ...
            manager.join(1.0)
            if manager.is_alive() and results is not None:
                # ... unless it is reading a result that a killed worker left half written: with
                # this process's copy of the pipe's write end closed, that read ends (EOF)
                results._writer.close()
                manager.join(STOP_TIMEOUT)
        for end in self._pipe:
            end.close()


__all__ = ["ProcessWorkers", "ThreadWorker", "classify_encoded", "classify_texts", "start_early"]
