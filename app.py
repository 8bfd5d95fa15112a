"""rnn_demo: an interactive lesson on how recurrent networks read AG News headlines.

Thin Gradio wiring over `rnn_demo.service` (pure functions text -> dicts, tables, figures).
Run: `python app.py` (127.0.0.1:7860; GRADIO_SERVER_NAME / GRADIO_SERVER_PORT override).
API: named endpoints `/predict` and `/analyze` (see docs/app.md for a gradio_client example).
"""
from __future__ import annotations

import html
import logging
import os
import threading
import time
from pathlib import Path
from urllib.parse import quote

# Telemetry off unless the user turns it on (GRADIO_ANALYTICS_ENABLED=True): the app runs offline.
# Set before gradio is imported, which reads it.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402
from starlette.middleware import Middleware  # noqa: E402

from rnn_demo import lesson_views, service  # noqa: E402
from rnn_demo.service import InputError, UnknownModelError  # noqa: E402
from export.web import widget_index  # noqa: E402  (stdlib-only import)

CHECKPOINTS = Path(os.environ.get("RNN_DEMO_CHECKPOINTS", Path(__file__).resolve().parent / "checkpoints"))
service.configure_torch()
LOG = logging.getLogger("rnn_demo.app")


def _return_freed_memory_to_the_os() -> None:
    """glibc only: keep resident memory near the working set under many worker threads.

    An /analyze of a 200-word headline briefly allocates 50-200 MB of tensors (prefixes and
    occlusions batched 200 x 200, the memory view's Jacobian). By default glibc serves large blocks
    from per-thread heaps with a threshold that grows to 32 MB, and keeps freed heap memory; with
    Gradio's worker threads that ratchets RSS up by hundreds of MB. A fixed 256 KiB mmap threshold
    returns every large block to the OS when freed, and two arenas bound the per-thread heaps.
    (Same as MALLOC_MMAP_THRESHOLD_=262144 MALLOC_ARENA_MAX=2; an explicit env setting wins.)
    """
    import ctypes
    import ctypes.util

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
        # Blocks under the mmap threshold (e.g. the memory view's per-step autograd tensors,
        # 128 x 256 floats) are freed inside the heap, where fragmentation keeps the pages
        # resident; malloc_trim(0) hands free pages back. A few ms once a second.
        while True:
            time.sleep(1.0)
            trim(0)

    threading.Thread(target=trim_forever, name="malloc-trim", daemon=True).start()


_return_freed_memory_to_the_os()
REGISTRY = service.Registry(CHECKPOINTS)  # every model loaded once, at start; damaged folders left out
for _problem in REGISTRY.problems:
    LOG.warning("checkpoint left out: %s", _problem)
DEFAULT_MODEL = "lesson-lstm-packed" if "lesson-lstm-packed" in REGISTRY.entries else REGISTRY.names[0]
# The in-browser lesson widget, where one was built (`python -m export --web web_site`): served as
# static files and linked from the page. RNN_DEMO_WIDGET points at another build folder.
WIDGET_INDEX = widget_index(os.environ.get("RNN_DEMO_WIDGET", Path(__file__).resolve().parent / "web_site"))
if WIDGET_INDEX is not None:
    gr.set_static_paths([WIDGET_INDEX.parent])

CSS = """
.gradio-container {max-width: min(1180px, 100vw) !important; min-width: 0 !important; margin: auto;}
.gallery {white-space: normal !important;}  /* long example headlines wrap on phones */
#notes ul {margin: 0;}
#notes p, #notes li {color: #8a4b00;}
"""
INTRO = """# How a recurrent network reads a headline
Pick a trained model, type one or more news headlines (one per line) and press **Read**.
The model answers *World*, *Sports*, *Business* or *Sci/Tech* — and the views below show **how** it got
there: the hidden state moving word by word, the answer changing as each word arrives, which words
mattered and, for LSTM and GRU models, what the gates did."""
TRAJECTORY_HELP = """**Hidden-state trajectory.** Each dot is the network's hidden state after one more word, projected
to 2-D (or 3-D) with a PCA fitted once on reference headlines — the same projection for every request, so
paths are comparable. Faint dots: where reference headlines of each class *end*. ○ start, ☆ end; ✕ marks the
mean of the states for models that classify the mean. Bidirectional models show their forward and backward
readers in separate panels (each has its own state space). The plot is a 2-D shadow of a 32–128-dimensional
space: a confident prediction can still end between two clouds — try 3-D."""
IMPORTANCE_HELP = """**Which words mattered** (occlusion): each word is replaced by the unknown word and the drop in the
predicted class's probability is measured. Red pushed towards the prediction, purple against it; colours are
scaled so the strongest word is fully coloured. Exact numbers: `analyze` API."""
PACKING_HELP = """**Why packing matters.** In a batch, short headlines are padded to the longest one. The lesson's
first `LSTMClassifier` reads `h[-1]` *after* the padding steps, so its answer for the very same headline
depends on what it was batched with. The packed LSTM (`pack_padded_sequence`; here: reading the state at
each headline's true last word) is immune. Move the slider to append k padding tokens."""


def _model_info(model: str) -> str:
    entry = REGISTRY.get(model)
    cfg = entry.ckpt.config
    kind = (f"{cfg.cell.upper()}{', bidirectional' if cfg.bidirectional else ''}, {cfg.num_layers} layer(s)"
            if cfg.is_recurrent else "no recurrent layer")
    return f"**{entry.name}** — {entry.ckpt.description} ({entry.ckpt.model.num_parameters():,} parameters, {kind})"


def read_headlines(text: str, model: str, dims: str, cell_choice: str | None):
    """Main tab: every output for the typed headlines."""
    return service.analyze_page(REGISTRY, text, model, 3 if dims == "3-D" else 2, cell_choice).outputs()


def redraw_trajectory(text: str, model: str, dims: str):
    headlines, _ = service.split_headlines(text)
    if not headlines:
        return service.plots.message_figure("Type a headline first.")
    return service.trajectory_view(REGISTRY, headlines, model, 3 if dims == "3-D" else 2)


def redraw_internals(text: str, model: str, cell_choice: str | None):
    headlines, _ = service.split_headlines(text)
    if not headlines:
        return service.plots.message_figure("Type a headline first.")
    return service.internals_view(REGISTRY, headlines[0], model, cell_choice)


def model_changed(model: str):
    choices = service.internals_choices(REGISTRY, model)
    default = choices[-REGISTRY.get(model).ckpt.config.num_directions]
    card, confusion, curves = service.model_card(REGISTRY, model)
    return _model_info(model), gr.Dropdown(choices=choices, value=default), card, confusion, curves


def compare(text: str):
    return service.compare_view(REGISTRY, text)


def packing(text: str, k: float):
    return service.packing_view(REGISTRY, text, int(k))


def batching():
    return lesson_views.batching_view(REGISTRY, service.PACKING_PAIR)


def word_order(text: str, seed: float):
    return lesson_views.word_order_view(REGISTRY, text, int(seed))


def reshuffle(text: str, seed: float):
    """A new seed for the shuffled variant (the figure and words follow it)."""
    seed = int(seed) + 1
    return (seed, *lesson_views.word_order_view(REGISTRY, text, seed))


def memory(text: str, model: str):
    return lesson_views.memory_view(REGISTRY, text, model)


# ---- named API endpoints (type hints define their schema)

MAX_MODEL_NAME = 100  # longer "model names" are not echoed back (nor into the log)


def _user_error(endpoint: str, message: str) -> gr.Error:
    """An expected bad request: one log line (no traceback) and the message for the client."""
    LOG.warning("bad request to /%s: %s", endpoint, " ".join(message.split())[:300])
    return gr.Error(message, print_exception=False)


def _checked(endpoint: str, text, model) -> tuple[str, str]:
    """The API's arguments as strings, or the same kind of clear error as any other bad input.

    gradio_client passes JSON through unchecked, so text may arrive as a number, list or dict.
    """
    if text is not None and not isinstance(text, str):
        raise _user_error(endpoint, f"text must be a string (one headline per line), got {type(text).__name__}.")
    if not isinstance(model, str):
        raise _user_error(endpoint, f"model must be a model name (a string), got {type(model).__name__}; "
                                    f"valid models: {', '.join(REGISTRY.names)}")
    if len(model) > MAX_MODEL_NAME:
        raise _user_error(endpoint, f"unknown model (a {len(model):,}-character name); "
                                    f"valid models: {', '.join(REGISTRY.names)}")
    return text or "", model


def predict(text: str, model: str = DEFAULT_MODEL) -> dict:
    """Class probabilities {class: probability} for one headline (the first line of `text`)."""
    text, model = _checked("predict", text, model)
    try:
        return service.predict(REGISTRY, text, model)
    except (InputError, UnknownModelError) as exc:
        raise _user_error("predict", str(exc)) from None


def analyze(text: str, model: str = DEFAULT_MODEL) -> dict:
    """Tokens, probabilities, per-token (prefix) probabilities, projected trajectory and word importances."""
    text, model = _checked("analyze", text, model)
    try:
        return service.analyze(REGISTRY, text, model)
    except (InputError, UnknownModelError) as exc:
        raise _user_error("analyze", str(exc)) from None


with gr.Blocks(title="How recurrent networks read headlines") as demo:
    gr.Markdown(INTRO)
    if WIDGET_INDEX is not None:
        gr.Markdown(f"[Open the lesson widget](/gradio_api/file={quote(WIDGET_INDEX.as_posix())}) — the same models "
                    "running in your "
                    "browser, answering as you type (no server needed; embed it in a lesson page).",
                    elem_id="widget-link")
    if REGISTRY.problems:  # e.g. a checkpoint folder half-written while being retrained
        gr.Markdown("Not loaded: " + "; ".join(html.escape(p) for p in REGISTRY.problems), elem_id="problems")
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=300):
            model = gr.Dropdown(REGISTRY.choices(), value=DEFAULT_MODEL, label="Model", elem_id="model")
            model_info = gr.Markdown(_model_info(DEFAULT_MODEL))
            text = gr.Textbox(value=service.EXAMPLES[0], lines=3, max_lines=12, label="Headlines (one per line)",
                              placeholder="Type a news headline, or several, one per line", elem_id="headlines")
            with gr.Row():
                run_btn = gr.Button("Read", variant="primary", elem_id="read")
                gr.ClearButton([text], value="Clear")
            gr.Markdown(f"Up to {service.MAX_HEADLINES} headlines of {service.MAX_CHARS:,} characters each; "
                        "longer input is cut, with a note.")
        with gr.Column(scale=2, min_width=280):
            gr.Examples([[e] for e in service.EXAMPLES] + [[service.MULTI_EXAMPLE]], inputs=[text],
                        label="Examples (written for this demo)", examples_per_page=11)
    notes = gr.Markdown(elem_id="notes")

    with gr.Tabs():
        with gr.Tab("Read", id="read-tab"):
            with gr.Row(equal_height=False):
                label = gr.Label(num_top_classes=4, label="First headline", scale=1, min_width=240, elem_id="label")
                table = gr.Dataframe(label="All headlines", interactive=False, wrap=True, scale=2, min_width=300,
                                     max_height=360, elem_id="table")
            gr.Markdown(TRAJECTORY_HELP)
            dims = gr.Radio(["2-D", "3-D"], value="2-D", label="Projection", elem_id="dims")
            trajectory = gr.Plot(label="Hidden-state trajectory", show_label=False, elem_id="trajectory")
            prefix = gr.Plot(label="Prediction as it reads", show_label=False, elem_id="prefix")
            gr.Markdown(IMPORTANCE_HELP)
            importance = gr.HighlightedText(label="Which words mattered (first headline)", elem_id="importance",
                                            show_legend=False, combine_adjacent=False)
            gr.Markdown("**Inside the cell.** Hidden state, cell state and gate activations, per unit (rows) and "
                        "word (columns), recomputed from the weights (PyTorch does not expose them).")
            cells = gr.Dropdown(service.internals_choices(REGISTRY, DEFAULT_MODEL), label="Layer and direction",
                                elem_id="cells")
            internals = gr.Plot(label="Inside the cell", show_label=False, elem_id="internals")
        with gr.Tab("Compare all models", id="compare-tab"):
            compare_btn = gr.Button("Compare every model on these headlines", variant="primary", elem_id="compare")
            compare_notes = gr.Markdown()
            compare_bars = gr.Plot(label="Probabilities side by side", show_label=False, elem_id="compare-bars")
            compare_paths = gr.Plot(label="Trajectories per model", show_label=False, elem_id="compare-paths")
            compare_table = gr.Dataframe(label="Every model, every headline", interactive=False, wrap=True,
                                         max_height=420)
        with gr.Tab("Model card", id="card-tab"):
            card = gr.Markdown()
            with gr.Row():
                confusion = gr.Plot(label="Confusion matrix", show_label=False, min_width=300)
                curves = gr.Plot(label="Training curves", show_label=False, min_width=300)
        with gr.Tab("Why packing matters", id="packing-tab"):
            gr.Markdown(PACKING_HELP)
            packing_text = gr.Textbox(value=service.PACKING_EXAMPLE, label="Headline", lines=1, elem_id="packing-text")
            pads = gr.Slider(0, service.MAX_PADS, value=10, step=1, label="k = padding tokens appended")
            packing_plot = gr.Plot(label="Padding drift", show_label=False, elem_id="packing-plot")
            packing_table = gr.Markdown(elem_id="packing-table")
            gr.Markdown(lesson_views.BATCHING_HELP)
            batching_plot = gr.Plot(label="Accuracy by batching", show_label=False, elem_id="batching-plot")
            batching_md = gr.Markdown(elem_id="batching-md")
        with gr.Tab("Does word order matter?", id="order-tab") as order_tab:
            gr.Markdown(lesson_views.WORD_ORDER_HELP)
            with gr.Row():
                order_btn = gr.Button("Read the headline above in three orders", variant="primary",
                                      elem_id="order-read")
                shuffle_btn = gr.Button("Shuffle again", elem_id="order-shuffle")
            order_seed = gr.Number(value=0, precision=0, label="shuffle seed", interactive=False, elem_id="order-seed")
            order_plot = gr.Plot(label="Word order", show_label=False, elem_id="order-plot")
            order_md = gr.Markdown(elem_id="order-md")
        with gr.Tab("How far back does it remember?", id="memory-tab") as memory_tab:
            gr.Markdown(lesson_views.MEMORY_HELP)
            memory_btn = gr.Button("Measure on the headline above", variant="primary", elem_id="memory-read")
            memory_plot = gr.Plot(label="Sensitivity per word", show_label=False, elem_id="memory-plot")
            memory_curves = gr.Plot(label="Memory over the test set", show_label=False, elem_id="memory-curves")
            memory_md = gr.Markdown(elem_id="memory-md")
        with gr.Tab("API", id="api-tab"):
            gr.Markdown(f"""Two named endpoints, usable from Python with `gradio_client`:
```python
from gradio_client import Client
client = Client("http://127.0.0.1:7860/")   # or the Space id, e.g. "user/rnn-demo"
client.predict("Striker scores twice in stoppage time", "{DEFAULT_MODEL}", api_name="/predict")
# -> {{"World": 0.01, "Sports": 0.97, ...}}
client.predict("Striker scores twice in stoppage time", "{DEFAULT_MODEL}", api_name="/analyze")
# -> {{"tokens": [...], "probabilities": {{...}}, "per_token_probabilities": [...],
#     "trajectory": {{...}}, "importances": [...], ...}}
```
Valid model names: {', '.join(f'`{n}`' for n in REGISTRY.names)}.
Backend for probabilities: **{REGISTRY.backend}** (set `RNN_DEMO_BACKEND=onnx` for onnxruntime; the
inspection views always use PyTorch).""")

    page_outputs = [label, table, notes, trajectory, prefix, importance, internals]
    page_inputs = [text, model, dims, cells]
    run_btn.click(read_headlines, page_inputs, page_outputs, api_visibility="private")
    dims.change(redraw_trajectory, [text, model, dims], trajectory, api_visibility="private")
    cells.input(redraw_internals, [text, model, cells], internals, api_visibility="private")
    model.input(model_changed, model, [model_info, cells, card, confusion, curves], api_visibility="private").then(
        read_headlines, page_inputs, page_outputs, api_visibility="private")
    compare_btn.click(compare, text, [compare_bars, compare_table, compare_paths, compare_notes],
                      api_visibility="private")
    pads.change(packing, [packing_text, pads], [packing_plot, packing_table], api_visibility="private",
                trigger_mode="always_last")
    packing_text.submit(packing, [packing_text, pads], [packing_plot, packing_table], api_visibility="private")
    order_inputs, order_outputs = [text, order_seed], [order_plot, order_md]
    order_btn.click(word_order, order_inputs, order_outputs, api_visibility="private")
    order_tab.select(word_order, order_inputs, order_outputs, api_visibility="private")
    shuffle_btn.click(reshuffle, order_inputs, [order_seed, *order_outputs], api_visibility="private")
    memory_outputs = [memory_plot, memory_curves, memory_md]
    memory_btn.click(memory, [text, model], memory_outputs, api_visibility="private")
    memory_tab.select(memory, [text, model], memory_outputs, api_visibility="private")
    demo.load(batching, None, [batching_plot, batching_md], api_visibility="private")
    demo.load(model_changed, model, [model_info, cells, card, confusion, curves], api_visibility="private").then(
        read_headlines, page_inputs, page_outputs, api_visibility="private").then(
        packing, [packing_text, pads], [packing_plot, packing_table], api_visibility="private")

    gr.api(predict, api_name="predict")
    gr.api(analyze, api_name="analyze")

# ---- overload policy
# Every event runs at most CONCURRENCY at a time (the work is CPU-bound on one torch thread per
# request; more parallel requests than cores only stretch every answer), and at most QUEUE_SIZE
# events wait in all. A request beyond that is refused at once (HTTP 503 on /queue/join;
# gradio_client raises QueueError "Queue is full! Please try again.") instead of waiting
# behind an unbounded queue. Defaults fit the 2-core machine this was measured on; see
# "Holding up to a classroom" in the README.


def _env_int(name: str, default: int, low: int, high: int) -> int:
    raw = os.environ.get(name, str(default)).strip()
    try:
        value = int(raw)
    except ValueError:
        raise SystemExit(f"error: {name}={raw!r} must be an integer in {low}..{high}") from None
    if not low <= value <= high:
        raise SystemExit(f"error: {name}={raw!r} must be an integer in {low}..{high}")
    return value


# One at a time per event by default: a 200-word /analyze on a bidirectional model briefly holds
# 100-200 MB of tensors, and two at once took the server past 700 MB (bench/bench_memory.py);
# different events (e.g. /predict and /analyze) still run side by side on the two cores.
CONCURRENCY = _env_int("RNN_DEMO_CONCURRENCY", 1, 1, 64)
QUEUE_SIZE = _env_int("RNN_DEMO_QUEUE_SIZE", 32, 1, 10_000)
# Gradio keeps a SessionState (a copy of every component's config, ~0.14 MB for this page) for
# each session, and every API call without a session is a new one; its default capacity of
# 10,000 sessions lets the server grow by over 1 GB (measured: +0.14 MB per /predict call).
# The app keeps no gr.State, so evicting an old session loses nothing its next event needs.
SESSIONS = _env_int("RNN_DEMO_SESSIONS", 256, 16, 100_000)
demo.queue(default_concurrency_limit=CONCURRENCY, max_size=QUEUE_SIZE)


class NoUploads:
    """ASGI middleware: the app has no upload widget, so Gradio's upload routes answer 403.

    (max_file_size=0 below would also refuse any non-empty file; this refuses before the body
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


LAUNCH_OPTIONS = dict(css=CSS, theme=gr.themes.Soft(), footer_links=["api", "gradio"],
                      max_file_size=0, app_kwargs={"middleware": [Middleware(NoUploads)]},
                      state_session_capacity=SESSIONS)

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # gradio's own start-up probes
    demo.launch(server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")), **LAUNCH_OPTIONS)
