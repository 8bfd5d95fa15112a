"""Server settings: memory, threads, the overload policy, upload refusal and Gradio's launch options.

Everything here is read from the environment once, by app.py at start-up:

    RNN_DEMO_CONCURRENCY   requests of one event run at once (default 1)
    RNN_DEMO_QUEUE_SIZE    events waiting in all before "Queue is full" (default 32)
    RNN_DEMO_SESSIONS      Gradio sessions kept (default 256)
    RNN_DEMO_BACKEND       torch (default) or onnx: who computes the class probabilities
    RNN_DEMO_ONNX_DIR      the exported models for the onnx backend (default exports/)

docs/app.md explains the policy and the measurements behind the defaults.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
import time
from pathlib import Path

STATIC = Path(__file__).resolve().parent / "static"
BACKENDS = ("torch", "onnx")


def env_int(name: str, default: int, low: int, high: int) -> int:
    """An integer setting from the environment; a bad value stops the start with a message naming it."""
    raw = os.environ.get(name, str(default)).strip()
    try:
        value = int(raw)
    except ValueError:
        raise SystemExit(f"error: {name}={raw!r} must be an integer in {low}..{high}") from None
    if not low <= value <= high:
        raise SystemExit(f"error: {name}={raw!r} must be an integer in {low}..{high}")
    return value


def concurrency() -> int:
    """One request per event at a time by default: a long /analyze on a bidirectional model briefly
    holds 100-200 MB of tensors, and two at once took the server past its memory goal; different
    events (e.g. /predict and /analyze) still run side by side."""
    return env_int("RNN_DEMO_CONCURRENCY", 1, 1, 64)


def queue_size() -> int:
    """Events waiting in all; beyond that a request is refused at once (HTTP 503 on /queue/join,
    gradio_client's QueueError "Queue is full! Please try again.") instead of waiting without end."""
    return env_int("RNN_DEMO_QUEUE_SIZE", 32, 1, 10_000)


def sessions() -> int:
    """Gradio keeps a copy of every component's config per session, and every API call without a
    session is a new one; its default of 10,000 sessions lets the server grow by over a gigabyte.
    The page keeps no gr.State, so evicting an old session loses nothing its next event needs."""
    return env_int("RNN_DEMO_SESSIONS", 256, 16, 100_000)


def backend(value: str | None = None) -> str:
    """RNN_DEMO_BACKEND (or `value`): 'torch' or 'onnx'; anything else is an error naming both."""
    raw = value if value is not None else os.environ.get("RNN_DEMO_BACKEND", "torch")
    name = raw.strip().lower() or "torch"
    if name not in BACKENDS:
        raise ValueError(f"RNN_DEMO_BACKEND={raw!r}: allowed values are 'torch' and 'onnx'")
    return name


def onnx_dir() -> Path:
    return Path(os.environ.get("RNN_DEMO_ONNX_DIR", "exports"))


def configure_torch(threads: int = 1) -> None:
    """Small models answer fastest on one thread, and the page shares the CPU with other requests."""
    import torch

    torch.set_num_threads(threads)


def return_freed_memory_to_the_os() -> None:
    """glibc only: keep resident memory near the working set under many worker threads.

    A long /analyze briefly allocates tens to hundreds of MB of tensors (prefixes and occlusions
    batched, the memory view's Jacobian). By default glibc serves large blocks from per-thread
    heaps with a threshold that grows to 32 MB, and keeps freed heap memory; with Gradio's worker
    threads that ratchets RSS up by hundreds of MB. A fixed 256 KiB mmap threshold returns every
    large block to the OS when freed, and two arenas bound the per-thread heaps (the same as
    MALLOC_MMAP_THRESHOLD_=262144 MALLOC_ARENA_MAX=2; an explicit environment setting wins).
    """
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        mallopt = libc.mallopt if libc is not None else None
    except (OSError, AttributeError):  # not glibc (macOS, musl without mallopt): nothing to tune
        return
    if mallopt is None:
        return
    M_MMAP_THRESHOLD, M_ARENA_MAX = -3, -8
    if "MALLOC_MMAP_THRESHOLD_" not in os.environ:
        mallopt(M_MMAP_THRESHOLD, 256 * 1024)
    if "MALLOC_ARENA_MAX" not in os.environ:
        mallopt(M_ARENA_MAX, 2)
    trim = getattr(libc, "malloc_trim", None)
    if trim is None:
        return

    def trim_forever() -> None:
        # Blocks under the mmap threshold (e.g. the memory view's per-step autograd tensors) are
        # freed inside the heap, where fragmentation keeps the pages resident; malloc_trim(0)
        # hands free pages back. A few ms once a second.
        while True:
            time.sleep(1.0)
            trim(0)

    threading.Thread(target=trim_forever, name="malloc-trim", daemon=True).start()


class NoUploads:
    """ASGI middleware: the app has no upload widget, so Gradio's upload routes answer 403.

    (launch(max_file_size=0) would also refuse any non-empty file; this refuses before the body
    is parsed or anything is written to the upload folder.)
    """

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["path"].rstrip("/").endswith(("/upload", "/upload_progress")):
            body = b"This app takes no file uploads."
            await send({"type": "http.response.start", "status": 403,
                        "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


def static(name: str, **values: str) -> str:
    """A file of page/static as text, with each __KEY__ replaced by values[key]."""
    text = (STATIC / name).read_text(encoding="utf-8")
    for key, value in values.items():
        text = text.replace(f"__{key.upper()}__", value)
    return text


def link_js(then: str) -> str:
    """A browser-only handler over the view's components (model, text, packing text, k, lang, tab, dims):
    page/static/link.js builds the link to what is on screen as `link`, then `then` runs."""
    from .tabs import link_table

    build = static("link.js", tabs=link_table())
    return f"(...view) => {{ const link = ({build})(...view); {then} }}"


def launch_options(i18n, head: str, routes: list | None = None) -> dict:
    """gr.Blocks.launch() keyword arguments: styles, theme, translations, upload refusal, sessions,
    and the app's own routes (page/assets.py), served before Gradio's."""
    import gradio as gr
    from starlette.middleware import Middleware

    return dict(css=static("page.css"), theme=gr.themes.Soft(), footer_links=["api", "gradio"], i18n=i18n,
                head=head, max_file_size=0, app_kwargs={"middleware": [Middleware(NoUploads)], "routes": list(routes or [])},
                state_session_capacity=sessions())


def server_address() -> tuple[str, int]:
    """127.0.0.1:7860 unless GRADIO_SERVER_NAME / GRADIO_SERVER_PORT say otherwise."""
    return os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"), env_int("GRADIO_SERVER_PORT", 7860, 1, 65_535)
