"""rnn_demo: an interactive lesson on how recurrent networks read AG News headlines.

Thin Gradio wiring over `rnn_demo.service` (pure functions text -> dicts, tables, figures).
Run: `python app.py` (127.0.0.1:7860; GRADIO_SERVER_NAME / GRADIO_SERVER_PORT override).
API: named endpoints `/predict` and `/analyze` (see docs/app.md for a gradio_client example).
"""
from __future__ import annotations

import functools
import html
import inspect
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

from rnn_demo import cards, i18n, lesson_views, page, service  # noqa: E402
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
#notes ul, #link-notes ul {margin: 0;}
#notes p, #notes li, #link-notes p, #link-notes li {color: #8a4b00;}
/* the dropdown's text never runs under its arrow */
#model input {padding-right: 2.2em !important; text-overflow: ellipsis;}
/* phone: the tab bar wraps so every tab is reachable by its name (no "..." overflow menu) */
.tab-wrapper, .tab-container {flex-wrap: wrap !important; height: auto !important; overflow: visible !important;}
.tab-container > button {flex: 0 0 auto;}
.overflow-menu {display: none !important;}
/* Gradio moves tabs into a "..." menu when their measured widths overflow: measured tiny, all stay in the bar */
.tab-container.visually-hidden button {width: 1px !important; min-width: 0 !important; padding: 0 !important;
                                       font-size: 1px !important; margin: 0 !important;}
.answer {font-size: 15px; line-height: 1.6;}
.answer-top {font-size: 20px; font-weight: 700; margin-bottom: 4px;}
.answer .bar-row {display: grid; grid-template-columns: 6.5em 1fr 3.6em; gap: 8px; align-items: center;}
.answer .bar {background: #eee; height: 14px; border-radius: 3px; overflow: hidden; display: block;}
.answer .bar > span {display: block; height: 100%;}
.answer .best {font-weight: 700;}
.answer .pct {text-align: right; font-variant-numeric: tabular-nums;}
.answer-empty {color: #8a4b00;}
.importance {display: flex; flex-wrap: wrap; gap: 4px; line-height: 1.2;}
.importance .chip {display: inline-flex; flex-direction: column; align-items: center; padding: 3px 6px;
                   border-radius: 4px; color: #111;}
.importance .n {font-size: 11px; font-variant-numeric: tabular-nums;}
.legend {margin-top: 6px; font-size: 13px;}
.legend .chip {padding: 0 6px; border-radius: 3px; color: #fff;}
"""
I18N = gr.I18n(**i18n.gradio_tables())
HEAD = i18n.head_script()  # applies ?lang= to the labels translated in the browser (see rnn_demo/i18n.py)
T = I18N  # T("key"): a label the browser shows in the page's language (static text only)
MODELS = page.lesson_order(REGISTRY.names)  # the dropdown, the API tab and links list models in the lesson's order


def localized(fn):
    """A handler whose last input is the page language: its texts and figures come out in that language."""
    @functools.wraps(fn)
    def wrapper(*args):
        *rest, lang = args
        with i18n.language(lang):
            return fn(*rest)
    # Gradio checks the argument count against the signature (which wraps() would take from fn)
    sig = inspect.signature(fn)
    wrapper.__signature__ = sig.replace(parameters=[*sig.parameters.values(), inspect.Parameter(
        "lang", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=str)])
    return wrapper


def _dims(dims) -> int:
    return 3 if dims == "3-D" else 2


def _model_info(model: str) -> str:
    entry = REGISTRY.get(model)
    return f"**{entry.name}**: {html.escape(cards.describe(entry))} ({cards.size_line(entry)})"


def _cell_args(model: str) -> dict:
    """Layer/direction picker: translated labels, English values; hidden when there is one choice."""
    choices = service.internals_choices(REGISTRY, model)
    default = choices[-REGISTRY.get(model).ckpt.config.num_directions]
    return dict(choices=[(service.internals_label(c), c) for c in choices], value=default, visible=len(choices) > 1)


def _cell_choices(model: str) -> gr.Dropdown:
    return gr.Dropdown(**_cell_args(model))


def _page_outputs(result: service.PageResult):
    classes = REGISTRY.class_names
    message = i18n.tr("note.not_english_label") if result.label is None and result.table is not None else ""
    importance = ""
    if result.extra:
        tr_ = result.extra["trace"]
        importance = page.importance_html(tr_.tokens, result.extra["importance"], tr_.known)
    table = gr.Dataframe(value=result.table, visible=result.table is not None)
    return (page.answer_html(result.label, classes, message), table, result.notes, result.trajectory,
            result.prefix, importance, result.internals)


@localized
def read_headlines(text: str, model: str, dims: str, cell_choice: str | None, cells_open: str):
    """Main tab: every output for the typed headlines (the heatmaps only while their section is open:
    they are the largest figure of a Read, ~35 KB for bilstm, and below the fold)."""
    shown = cells_open == "1"
    outputs = _page_outputs(service.analyze_page(REGISTRY, text, model, _dims(dims), cell_choice, with_internals=shown))
    return outputs if shown else (*outputs[:-1], gr.skip())


@localized
def redraw_trajectory(text: str, model: str, dims: str):
    headlines, _ = service.split_headlines(text)
    if not headlines:
        return service.plots.message_figure(i18n.tr("note.type_first"))
    return service.trajectory_view(REGISTRY, headlines, model, _dims(dims))


@localized
def redraw_internals(text: str, model: str, cell_choice: str | None):
    headlines, _ = service.split_headlines(text)
    if not headlines:
        return service.plots.message_figure(i18n.tr("note.type_first"))
    return service.internals_view(REGISTRY, headlines[0], model, cell_choice)


@localized
def model_changed(model: str):
    card, confusion, curves = service.model_card(REGISTRY, model)
    return _model_info(model), _cell_choices(model), card, confusion, curves


@localized
def compare(text: str):
    return service.compare_view(REGISTRY, text)


@localized
def packing(text: str, k: float):
    return service.packing_view(REGISTRY, text, int(k))


@localized
def batching():
    return lesson_views.batching_view(REGISTRY, service.PACKING_PAIR)


@localized
def word_order(text: str, seed: float):
    return lesson_views.word_order_view(REGISTRY, text, int(seed))


@localized
def reshuffle(text: str, seed: float):
    """A new seed for the shuffled variant (the figure and words follow it)."""
    seed = int(seed) + 1
    return (seed, *lesson_views.word_order_view(REGISTRY, text, seed))


@localized
def memory(text: str, model: str):
    return lesson_views.memory_view(REGISTRY, text, model)


TAB_COMPONENTS: dict = {}  # deep-link tab name -> gr.Tab (filled once the layout exists)
CARD_OUTPUTS: list = []  # model info, layer picker, card, confusion, curves (filled with the layout)
PAGE_OUTPUTS: list = []  # the Read views, in read_headlines' order


def open_page(request: gr.Request):
    """Page load: the language (?lang=, else the browser's) and a deep link's model, text, tab, k, dims.

    Every parameter is validated (page.parse_link); what was not usable is said in the page's language.
    """
    params = dict(request.query_params) if request is not None else {}
    headers = dict(request.headers) if request is not None else {}
    lang, _ = i18n.choose(params.get("lang"), headers.get("accept-language"))
    link = page.parse_link(params, MODELS, DEFAULT_MODEL, service.MAX_PADS)
    with i18n.language(lang):
        notes = "\n".join(f"- {html.escape(i18n.tr(key, **values))}" for key, values in link.notes)
        limits = i18n.tr("app.limits", headlines=service.MAX_HEADLINES, chars=f"{service.MAX_CHARS:,}")
        extra = _static_markdown()
        # Tab names and the examples' captions: gr.I18n alone leaves them in the browser's first language
        # when ?lang= switches it after start-up, so they are also sent in the page's language.
        tab_names = {tab: gr.Tab(label=i18n.tr(f"view.{name}")) for name, tab in TAB_COMPONENTS.items()}
        samples = gr.Dataset(sample_labels=[*service.EXAMPLES, i18n.tr("app.multi_example")])
    out = {lang_box: lang, model: link.model, dims: "3-D" if link.dims == 3 else "2-D",
           tabs: gr.Tabs(selected=page.TABS[link.tab]), tab_box: link.tab, link_notes: notes, limits_md: limits,
           widget_md: extra[0], problems_md: extra[1], api_md: extra[2], examples.dataset: samples, **tab_names}
    if link.text is not None:
        out[text] = link.text
        if link.tab == "packing":
            out[packing_text] = link.text
    if link.k is not None:
        out[pads] = link.k
    # The model card and the Read views in the same answer: one round trip fewer before the page is drawn.
    # (The text box keeps what the browser sent, the first example, unless the link gives a text.)
    with i18n.language(lang):
        out.update(zip(CARD_OUTPUTS, model_changed.__wrapped__(link.model)))
        shown = link.text if link.text is not None else service.EXAMPLES[0]
        cell = _cell_args(link.model)["value"]
        out.update(zip(PAGE_OUTPUTS[:-1], read_headlines.__wrapped__(shown, link.model, out[dims], cell, "0")))  # no heatmaps
    return out


def _static_markdown() -> tuple[str, str, str]:
    """(widget link, problems, API text) in the current language (they carry values, so not gr.I18n)."""
    widget = (i18n.tr("app.widget_link", url=f"/gradio_api/file={quote(WIDGET_INDEX.as_posix())}")
              if WIDGET_INDEX is not None else "")
    problems = (i18n.tr("app.not_loaded", problems="; ".join(html.escape(p) for p in REGISTRY.problems))
                if REGISTRY.problems else "")
    api = "\n".join([i18n.tr("app.api_intro"), API_EXAMPLE.format(model=DEFAULT_MODEL),
                     i18n.tr("app.api_models", names=", ".join(f"`{n}`" for n in MODELS)), "",
                     i18n.tr("app.api_backend", backend=REGISTRY.backend)])
    return widget, problems, api


@localized
def open_tab_view(tab: str, text: str, model: str):
    """After a deep link: compute the chosen lesson tab too (a programmatic tab change fires no select)."""
    compare_out = compare.__wrapped__(text) if tab == "compare" else (gr.skip(),) * 4
    order_out = lesson_views.word_order_view(REGISTRY, text, 0) if tab == "order" else (gr.skip(),) * 2
    memory_out = lesson_views.memory_view(REGISTRY, text, model) if tab == "memory" else (gr.skip(),) * 3
    return (*compare_out, *order_out, *memory_out)


API_EXAMPLE = """```python
from gradio_client import Client
client = Client("http://127.0.0.1:7860/")   # or the Space id, e.g. "user/rnn-demo"
client.predict("Striker scores twice in stoppage time", "{model}", api_name="/predict")
# -> {{"World": 0.01, "Sports": 0.97, ...}}
client.predict("Striker scores twice in stoppage time", "{model}", api_name="/analyze")
# -> {{"tokens": [...], "probabilities": {{...}}, "per_token_probabilities": [...],
#     "trajectory": {{...}}, "importances": [...], "memory": [...], "word_order": {{...}}, ...}}
```"""
# "Link to this view", built in the browser from what is on screen (no server round trip).
LINK_JS = """(model, text, packingText, k, lang, tab, dims) => {
  const root = (window.gradio_config && window.gradio_config.root) || (location.origin + location.pathname);
  const p = new URLSearchParams();
  p.set('model', model);
  const shown = tab === 'packing' ? packingText : text;
  if (shown) p.set('text', shown);
  p.set('tab', tab || 'read');
  if (tab === 'packing') p.set('k', String(k));
  if (dims === '3-D') p.set('dims', '3');
  p.set('lang', lang || 'en');
  return root.replace(/\\/$/, '') + '/?' + p.toString();
}"""
# After Read on a phone: bring the answer into view (does nothing when it is already visible).
SHOW_ANSWER_JS = "() => { const a = document.getElementById('answer'); if (a) a.scrollIntoView({block: 'nearest'}); }"


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
    lang_box = gr.Textbox(value=i18n.DEFAULT, visible=False, elem_id="lang-state")  # the page's language
    tab_box = gr.Textbox(value="read", visible=False, elem_id="tab-state")  # the tab on screen (for links)
    cells_open = gr.Textbox(value="0", visible=False, elem_id="cells-open")  # "1" while the heatmaps are shown
    gr.Markdown(T("app.title"), elem_id="title", elem_classes=["h1"])
    gr.Markdown(T("app.intro"))
    gr.Markdown(T("app.languages"), elem_id="languages")
    widget_md = gr.Markdown(elem_id="widget-link")
    problems_md = gr.Markdown(elem_id="problems")
    link_notes = gr.Markdown(elem_id="link-notes")
    with gr.Accordion(T("app.primer_title"), open=False, elem_id="primer"):
        gr.Markdown(T("primer.body"))
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=300):
            model = gr.Dropdown([(n, n) for n in MODELS], value=DEFAULT_MODEL, label=T("app.model"), elem_id="model")
            model_info = gr.Markdown(_model_info(DEFAULT_MODEL), elem_id="model-info")
            text = gr.Textbox(value=service.EXAMPLES[0], lines=3, max_lines=12, label=T("app.headlines"),
                              placeholder=T("app.placeholder"), elem_id="headlines")
            with gr.Row():
                run_btn = gr.Button(T("app.read"), variant="primary", elem_id="read")
                clear_btn = gr.Button(T("app.clear"), elem_id="clear")
            # the answer sits right under the button: on a phone it is on screen after tapping Read
            answer = gr.HTML(elem_id="answer", label=T("app.first_headline"))
            notes = gr.Markdown(elem_id="notes")
            limits_md = gr.Markdown(elem_id="limits")
        with gr.Column(scale=2, min_width=280):
            examples = gr.Examples([[e] for e in service.EXAMPLES] + [[service.MULTI_EXAMPLE]], inputs=[text],
                                   label=T("app.examples"), examples_per_page=11,
                                   example_labels=[*service.EXAMPLES, i18n.tr("app.multi_example")])
            with gr.Row():
                link_btn = gr.Button(T("app.link"), size="sm", elem_id="link-btn")
            link_box = gr.Textbox(label=T("app.link_label"), interactive=False, buttons=["copy"], elem_id="link",
                                  lines=1, max_lines=3)

    with gr.Tabs(selected="read-tab") as tabs:
        with gr.Tab(T("view.read"), id="read-tab") as read_tab:
            gr.Markdown(T("view.h_answer"))
            gr.Markdown(T("help.answer"))
            table = gr.Dataframe(label=T("app.all_headlines"), interactive=False, wrap=True, max_height=360,
                                 elem_id="table", column_widths=["48px", "38%"])
            gr.Markdown(T("view.h_trajectory"))
            gr.Markdown(T("help.trajectory"))
            dims = gr.Radio(["2-D", "3-D"], value="2-D", label=T("app.projection"), elem_id="dims")
            trajectory = gr.Plot(label=T("view.h_trajectory"), show_label=False, elem_id="trajectory")
            gr.Markdown(T("view.h_prefix"))
            gr.Markdown(T("help.prefix"))
            prefix = gr.Plot(label=T("plot.prefix"), show_label=False, elem_id="prefix")
            gr.Markdown(T("view.h_importance"))
            gr.Markdown(T("help.importance"))
            importance = gr.HTML(elem_id="importance")
            gr.Markdown(T("view.h_cells"))
            gr.Markdown(T("help.cells"))
            with gr.Accordion(T("app.cells_show"), open=False, elem_id="cells-section") as cells_section:
                cells = gr.Dropdown(**_cell_args(DEFAULT_MODEL), label=T("app.cells"), elem_id="cells")
                internals = gr.Plot(label=T("view.h_cells"), show_label=False, elem_id="internals")
        with gr.Tab(T("view.compare"), id="compare-tab") as compare_tab:
            gr.Markdown(T("view.h_compare"))
            gr.Markdown(T("help.compare"))
            compare_btn = gr.Button(T("view.compare_button"), variant="primary", elem_id="compare")
            compare_notes = gr.Markdown()
            compare_bars = gr.Plot(show_label=False, elem_id="compare-bars")
            compare_paths = gr.Plot(show_label=False, elem_id="compare-paths")
            compare_table = gr.Dataframe(interactive=False, wrap=True, max_height=420, elem_id="compare-table",
                                         column_widths=["48px", "32%"])
        with gr.Tab(T("view.card"), id="card-tab") as card_tab:
            gr.Markdown(T("view.h_card"))
            gr.Markdown(T("help.card"))
            card = gr.Markdown(elem_id="card")
            with gr.Row():
                confusion = gr.Plot(show_label=False, min_width=300, elem_id="confusion")
                curves = gr.Plot(show_label=False, min_width=300, elem_id="curves")
        with gr.Tab(T("view.packing"), id="packing-tab") as packing_tab:
            gr.Markdown(T("view.h_packing"))
            gr.Markdown(T("help.packing"))
            packing_text = gr.Textbox(value=service.PACKING_EXAMPLE, label=T("view.packing_text"), lines=1,
                                      elem_id="packing-text")
            pads = gr.Slider(0, service.MAX_PADS, value=10, step=1, label=T("view.pads"), elem_id="pads")
            packing_plot = gr.Plot(show_label=False, elem_id="packing-plot")
            packing_table = gr.Markdown(elem_id="packing-table")
            gr.Markdown(T("view.h_batching"))
            gr.Markdown(T("help.batching"))
            batching_plot = gr.Plot(show_label=False, elem_id="batching-plot")
            batching_md = gr.Markdown(elem_id="batching-md")
        with gr.Tab(T("view.order"), id="order-tab") as order_tab:
            gr.Markdown(T("view.h_order"))
            gr.Markdown(T("help.order"))
            with gr.Row():
                order_btn = gr.Button(T("view.order_button"), variant="primary", elem_id="order-read")
                shuffle_btn = gr.Button(T("view.shuffle"), elem_id="order-shuffle")
            order_seed = gr.Number(value=0, precision=0, label=T("view.seed"), interactive=False, elem_id="order-seed")
            order_plot = gr.Plot(show_label=False, elem_id="order-plot")
            order_md = gr.Markdown(elem_id="order-md")
        with gr.Tab(T("view.memory"), id="memory-tab") as memory_tab:
            gr.Markdown(T("view.h_memory"))
            gr.Markdown(T("help.memory"))
            memory_btn = gr.Button(T("view.memory_button"), variant="primary", elem_id="memory-read")
            memory_plot = gr.Plot(show_label=False, elem_id="memory-plot")
            memory_curves = gr.Plot(show_label=False, elem_id="memory-curves")
            memory_md = gr.Markdown(elem_id="memory-md")
        with gr.Tab(T("view.api"), id="api-tab") as api_tab:
            gr.Markdown(T("view.h_api"))
            api_md = gr.Markdown(elem_id="api-md")

    private = dict(api_visibility="private")
    page_outputs = [answer, table, notes, trajectory, prefix, importance, internals]
    page_inputs = [text, model, dims, cells, cells_open, lang_box]
    card_outputs = [model_info, cells, card, confusion, curves]
    run_btn.click(read_headlines, page_inputs, page_outputs, **private).then(None, js=SHOW_ANSWER_JS)
    text.submit(read_headlines, page_inputs, page_outputs, **private)
    examples.load_input_event.then(read_headlines, page_inputs, page_outputs, **private)  # a click runs it
    clear_btn.click(lambda: ("", "", None, "", None, None, "", None), None,
                    [text, answer, table, notes, trajectory, prefix, importance, internals], **private)
    dims.change(redraw_trajectory, [text, model, dims, lang_box], trajectory, **private)
    cells.input(redraw_internals, [text, model, cells, lang_box], internals, **private)
    cells_section.expand(lambda: "1", None, cells_open, queue=False, **private).then(
        redraw_internals, [text, model, cells, lang_box], internals, **private)
    cells_section.collapse(lambda: "0", None, cells_open, queue=False, **private)
    model.input(model_changed, [model, lang_box], card_outputs, **private).then(
        read_headlines, page_inputs, page_outputs, **private)
    compare_outputs = [compare_bars, compare_table, compare_paths, compare_notes]
    compare_btn.click(compare, [text, lang_box], compare_outputs, **private)
    packing_inputs = [packing_text, pads, lang_box]
    pads.change(packing, packing_inputs, [packing_plot, packing_table], trigger_mode="always_last", **private)
    packing_text.submit(packing, packing_inputs, [packing_plot, packing_table], **private)
    order_inputs, order_outputs = [text, order_seed, lang_box], [order_plot, order_md]
    order_btn.click(word_order, order_inputs, order_outputs, **private)
    order_tab.select(word_order, order_inputs, order_outputs, **private)
    shuffle_btn.click(reshuffle, order_inputs, [order_seed, *order_outputs], **private)
    memory_outputs = [memory_plot, memory_curves, memory_md]
    memory_btn.click(memory, [text, model, lang_box], memory_outputs, **private)
    memory_tab.select(memory, [text, model, lang_box], memory_outputs, **private)
    for name, tab in (("read", read_tab), ("compare", compare_tab), ("card", card_tab), ("packing", packing_tab),
                      ("order", order_tab), ("memory", memory_tab), ("api", api_tab)):
        tab.select(None, None, tab_box, js=f"() => '{name}'")  # browser-only: remembered for the link
    link_btn.click(None, [model, text, packing_text, pads, lang_box, tab_box, dims], link_box, js=LINK_JS)
    TAB_COMPONENTS.update(read=read_tab, compare=compare_tab, card=card_tab, packing=packing_tab, order=order_tab,
                          memory=memory_tab, api=api_tab)
    CARD_OUTPUTS.extend(card_outputs)
    PAGE_OUTPUTS.extend(page_outputs)
    demo.load(open_page, None, [lang_box, model, text, packing_text, pads, dims, tabs, tab_box, link_notes,
                                limits_md, widget_md, problems_md, api_md, examples.dataset,
                                *TAB_COMPONENTS.values(), *card_outputs, *page_outputs[:-1]], **private).then(
        open_tab_view, [tab_box, text, model, lang_box], [*compare_outputs, *order_outputs, *memory_outputs],
        **private).then(
        packing, packing_inputs, [packing_plot, packing_table], **private).then(
        batching, [lang_box], [batching_plot, batching_md], **private)

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


LAUNCH_OPTIONS = dict(css=CSS, theme=gr.themes.Soft(), footer_links=["api", "gradio"], i18n=I18N, head=HEAD,
                      max_file_size=0, app_kwargs={"middleware": [Middleware(NoUploads)]},
                      state_session_capacity=SESSIONS)

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # gradio's own start-up probes
    demo.launch(server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")), **LAUNCH_OPTIONS)
