"""Server settings: memory, threads, the overload policy, request limits and Gradio's launch options.

Everything here is read from the environment once, by app.py at start-up:

    RNN_DEMO_CONCURRENCY   requests of one event run at once (default 1)
    RNN_DEMO_QUEUE_SIZE    events waiting in all before "Queue is full" (default 32)
    RNN_DEMO_SESSIONS      Gradio sessions kept (default 256)
    RNN_DEMO_MAX_BODY_KB   largest request body accepted, KiB (default 512); larger: HTTP 413
    RNN_DEMO_BACKEND       torch (default) or onnx: who computes the class probabilities
    RNN_DEMO_ONNX_DIR      the exported models for the onnx backend (default exports/)

docs/app.md explains the policy and the measurements behind the defaults.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import threading
import time
from pathlib import Path

STATIC = Path(__file__).resolve().parent / "static"
BACKENDS = ("torch", "onnx")
LOG = logging.getLogger("rnn_demo.app")


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
    """Gradio keeps a copy of every component's config per session (page loads, and API calls that
    are refused or fail before they run); its default of 10,000 sessions lets the server grow by
    over a gigabyte. Evicting an old session loses nothing its page needs: the page keeps no
    gr.State, and every input's choices are fixed at layout time (page/choices.py). An API call
    drops its own session when it ends (`forget_session`)."""
    return env_int("RNN_DEMO_SESSIONS", 256, 16, 100_000)


def max_body() -> int:
    """The largest request body in bytes (default 512 KiB). The page's biggest request, 32 headlines
    of 2,000 characters, is 64,000 characters: 64 KB in ASCII and at most 256 KB in UTF-8 (384 KB
    if a client escapes every character as \\uXXXX); anything above the limit is refused with 413."""
    return env_int("RNN_DEMO_MAX_BODY_KB", 512, 64, 1_048_576) * 1024


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


async def _refuse(send, status: int, text: str) -> None:
    body = text.encode("utf-8")
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class NoUploads:
    """ASGI middleware: Gradio routes this app does not use answer 403 before anything is read.

    - `/upload`, `/upload_progress`: the app has no upload widget (launch(max_file_size=0) would
      also refuse any non-empty file; this refuses before the body is parsed or anything is
      written to the upload folder).
    - `/deep_link`: the app has no gr.DeepLinkButton; the route writes the named session's
      components to a new file in the upload folder on every call, for any session anyone made.
    """

    CLOSED = {"/upload": "This app takes no file uploads.", "/upload_progress": "This app takes no file uploads.",
              "/deep_link": "This app saves no session links; link to a view with ?model=...&text=... instead."}

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            path = scope["path"].rstrip("/")
            for suffix, message in self.CLOSED.items():
                if path.endswith(suffix):
                    await _refuse(send, 403, message)
                    return
        await self.app(scope, receive, send)


class BodyLimit:
    """ASGI middleware: a request body over `limit` bytes is answered 413 before it is held.

    A Content-Length over the limit is refused before one byte of the body is read. Any other
    body (chunked, or a Content-Length within the limit) is read here, counting the bytes as they
    stream in, and refused as soon as the count passes the limit; what passes is handed on from
    this one buffer. So no request ever holds more than `limit` bytes of body, whichever Gradio
    route it is for (/gradio_api/call/..., /queue/join, /run/..., /api/..., anything else).
    """

    def __init__(self, app, limit: int | None = None) -> None:
        self.app = app
        self.limit = max_body() if limit is None else limit

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length, chunked = headers.get(b"content-length"), b"transfer-encoding" in headers
        if length is None and not chunked:  # no body (GET, HEAD, the event streams): nothing to count
            await self.app(scope, receive, send)
            return
        if length is not None and (not length.strip().isdigit() or int(length) > self.limit):
            await self._too_large(scope, send, f"{int(length):,} bytes" if length.strip().isdigit() else "?")
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client left: nothing to answer
                return
            size += len(message.get("body", b""))
            if size > self.limit:
                await self._too_large(scope, send, f"over {self.limit:,} bytes (still sending)")
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body, replayed = b"".join(chunks), False
        chunks.clear()

        async def replay():
            nonlocal replayed, body
            if replayed:
                return await receive()  # after the body: the disconnect a streaming response waits for
            replayed, whole = True, body
            body = b""
            return {"type": "http.request", "body": whole, "more_body": False}

        await self.app(scope, replay, send)

    async def _too_large(self, scope, send, size: str) -> None:
        where = f"{scope.get('method', '?')} {scope['path']}"
        LOG.warning("refused %s: request body %s, the limit is %s bytes", where, size, f"{self.limit:,}")
        await _refuse(send, 413, f"Request body too large ({size}) for {where}: this app accepts at most "
                                 f"{self.limit:,} bytes (RNN_DEMO_MAX_BODY_KB). One request holds at most "
                                 "32 headlines of 2,000 characters.")


def forget_session(request) -> None:
    """Drop the Gradio session of an API call (a gr.Request), with the text it was given.

    Gradio keeps, per session, a copy of every component's config, and writes each call's inputs
    and outputs into it (SessionState.config_values); every gradio_client Client and every raw
    /gradio_api/call/... request is a session of its own, kept until RNN_DEMO_SESSIONS newer ones
    push it out. The API endpoints need nothing from a session, so theirs is dropped as the call
    ends: the copy the running call still holds goes with it, and a later call under the same
    session hash starts a fresh one. No-op without a request (an in-process call).
    """
    if request is None or not getattr(request, "session_hash", None):
        return
    holder = getattr(getattr(getattr(request, "request", None), "app", None), "state_holder", None)
    if holder is None:
        return
    with holder.lock:
        holder.session_data.pop(request.session_hash, None)
        holder.time_last_used.pop(request.session_hash, None)


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
    """gr.Blocks.launch() keyword arguments: styles, theme, translations, request limits, sessions,
    and the app's own routes (page/assets.py), served before Gradio's.

    run_history=False: Gradio would otherwise offer to record every public call's inputs and
    outputs (in the browser, or in a Hugging Face bucket named by a request header); the app runs
    offline and keeps no requests.
    """
    import gradio as gr
    from starlette.middleware import Middleware

    return dict(css=static("page.css"), theme=gr.themes.Soft(), footer_links=["api", "gradio"], i18n=i18n,
                head=head, max_file_size=0,
                app_kwargs={"middleware": [Middleware(NoUploads), Middleware(BodyLimit)], "routes": list(routes or [])},
                state_session_capacity=sessions(), run_history=False)


def server_address() -> tuple[str, int]:
    """127.0.0.1:7860 unless GRADIO_SERVER_NAME / GRADIO_SERVER_PORT say otherwise."""
    return os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"), env_int("GRADIO_SERVER_PORT", 7860, 1, 65_535)
