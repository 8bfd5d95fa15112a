"""rnn_demo: an interactive lesson on how recurrent networks read AG News headlines.

The wiring: builds the page from `page/` (views, handlers, tab table, settings) and launches it.
Run: `python app.py` (127.0.0.1:7860; GRADIO_SERVER_NAME / GRADIO_SERVER_PORT override).
API: named endpoints `/predict` and `/analyze` (docs/app.md has a gradio_client example).
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

# Telemetry off unless the user turns it on (GRADIO_ANALYTICS_ENABLED=True): the app runs offline.
# Set before gradio is imported, which reads it.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

from export.web import widget_index  # noqa: E402  (light: no onnx or torch import)
from page import assets, diagrams, i18n, lesson_views, packing_diagram, reader, settings, tabs  # noqa: E402
from page.choices import Choice, Options  # noqa: E402
from page.handlers import Handlers  # noqa: E402
from page.registry import Registry  # noqa: E402
from rnn_demo.catalog import EXAMPLES, MULTI_EXAMPLE, PACKING_EXAMPLE  # noqa: E402
from rnn_demo.predict import TorchPredictor  # noqa: E402

ROOT = Path(__file__).resolve().parent
LOG = logging.getLogger("rnn_demo.app")
settings.configure_torch()
settings.return_freed_memory_to_the_os()


def predictors(backend: str):
    """Who computes class probabilities: PyTorch, or onnxruntime on the exported models."""
    if backend == "onnx":
        from export.runtime import onnx_predictors  # onnxruntime is only imported for this backend

        return onnx_predictors(settings.onnx_dir())
    return TorchPredictor


BACKEND = settings.backend()
REGISTRY = Registry(os.environ.get("RNN_DEMO_CHECKPOINTS", ROOT / "checkpoints"), predictors(BACKEND), BACKEND)
for _problem in REGISTRY.problems:  # every model loaded once, at start; damaged folders left out
    LOG.warning("checkpoint left out: %s", _problem)
# The in-browser lesson widget, where one was built (`python -m export --web web_site`): served as
# static files and linked from the page. RNN_DEMO_WIDGET points at another build folder.
WIDGET_INDEX = widget_index(os.environ.get("RNN_DEMO_WIDGET", ROOT / "web_site"))  # served at /widget/
H = Handlers(REGISTRY, WIDGET_INDEX)
I18N = gr.I18n(**i18n.gradio_tables())
T = I18N  # T("key"): a label the browser shows in the page's language (static text only)
DEFAULT = H.default_model


def new_tab(name: str) -> gr.Tab:
    """A tab of page/tabs.py's table: its title and element id come from there."""
    return gr.Tab(T(tabs.BY_NAME[name].title_key), id=tabs.BY_NAME[name].elem_id)


with gr.Blocks(title="How recurrent networks read headlines") as demo:
    lang_box = gr.Textbox(value=i18n.DEFAULT, visible=False, elem_id="lang-state")  # the page's language
    tab_box = gr.Textbox(value="read", visible=False, elem_id="tab-state")  # the tab on screen (for links)
    gr.Markdown(T("app.title"), elem_id="title", elem_classes=["h1"])
    gr.Markdown(T("app.intro"), elem_id="intro")
    with gr.Row(elem_id="languages"):  # each language in its own words; the view is kept (page/static/link.js)
        lang_buttons = {code: gr.Button(name, size="sm", elem_id=f"lang-{code}") for code, name in i18n.names().items()}
        full_lesson = gr.Button(T("app.full_lesson"), size="sm", elem_id="full-lesson")  # shown in embed mode only
    widget_md = gr.Markdown(elem_id="widget-link")
    problems_md = gr.Markdown(elem_id="problems")
    link_notes = gr.Markdown(elem_id="link-notes")
    with gr.Accordion(T("app.primer_title"), open=False, elem_id="primer"):
        gr.Markdown(T("primer.body"))
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=300):
            model = Choice([(n, n) for n in H.models], value=DEFAULT, label=T("app.model"), elem_id="model")
            model_info = gr.Markdown(H.model_info(DEFAULT), elem_id="model-info")
            text = gr.Textbox(value=EXAMPLES[0], lines=3, max_lines=12, label=T("app.headlines"),
                              placeholder=T("app.placeholder"), elem_id="headlines")
            with gr.Row():
                run_btn = gr.Button(T("app.read"), variant="primary", elem_id="read")
                clear_btn = gr.Button(T("app.clear"), elem_id="clear")
            # the answer sits right under the button: on a phone it is on screen after tapping Read
            answer = gr.HTML(elem_id="answer", label=T("app.first_headline"))
            notes = gr.Markdown(elem_id="notes")
            limits_md = gr.Markdown(elem_id="limits")
        with gr.Column(scale=2, min_width=280, elem_id="examples-column"):
            examples = gr.Examples([[e] for e in EXAMPLES] + [[MULTI_EXAMPLE]], inputs=[text],
                                   label=T("app.examples"), examples_per_page=11,
                                   example_labels=[*EXAMPLES, i18n.tr("app.multi_example")])
            with gr.Row():
                link_btn = gr.Button(T("app.link"), size="sm", elem_id="link-btn")
            link_box = gr.Textbox(label=T("app.link_label"), interactive=False, buttons=["copy"], elem_id="link",
                                  lines=1, max_lines=3)

    tab = {}  # tab name -> gr.Tab, made from the tab table
    with gr.Tabs(selected=tabs.BY_NAME["read"].elem_id, elem_id="views") as tab_bar:
        with new_tab("read") as tab["read"]:
            gr.Markdown(T("view.h_answer"), elem_id="answer-head")
            gr.Markdown(T("help.answer"), elem_classes=["help"])
            table = gr.Dataframe(label=T("app.all_headlines"), interactive=False, wrap=True, max_height=360,
                                 elem_id="table", column_widths=["48px", "38%"], visible=False)
            # The Read views are drawn in the browser (page/static/reader_page.js) from one payload per Read
            gr.Markdown(T("view.h_stepper"))
            gr.Markdown(T("help.stepper"), elem_classes=["help"])
            gr.HTML(reader.STEPPER_HTML, elem_id="stepper-box", padding=False)
            gr.Markdown(T("view.h_trajectory"))
            gr.Markdown(T("help.trajectory"), elem_classes=["help"])
            dims = Options(["2-D", "3-D"], value="2-D", label=T("app.projection"), elem_id="dims")
            gr.HTML(reader.TRAJECTORY_HTML, elem_id="trajectory", padding=False)
            gr.HTML(diagrams.NETWORK_HTML, elem_id="network", padding=False)  # the unrolled network and its cell
            gr.Markdown(T("view.h_prefix"))
            gr.Markdown(T("help.prefix"), elem_classes=["help"])
            gr.HTML(reader.PREFIX_HTML, elem_id="prefix", padding=False)
            gr.Markdown(T("view.h_importance"))
            gr.Markdown(T("help.importance"), elem_classes=["help"])
            importance = gr.HTML(elem_id="importance")
            gr.Markdown(T("view.h_cells"))
            gr.Markdown(T("help.cells"), elem_classes=["help"])
            gr.HTML(reader.COLUMN_HTML, elem_id="column", padding=False)
            with gr.Accordion(T("app.cells_show"), open=False, elem_id="cells-section") as cells_section:
                cells = Choice(**H.cell_layout_args(), label=T("app.cells"), elem_id="cells")  # every model's choices
                gr.HTML(reader.CELLS_HTML, elem_id="internals", padding=False)
            payload = gr.JSON(visible=False, elem_id="reader-payload")  # what the browser draws from
        with new_tab("compare") as tab["compare"]:
            gr.Markdown(T("view.h_compare"))
            gr.Markdown(T("help.compare"), elem_classes=["help"])
            compare_btn = gr.Button(T("view.compare_button"), variant="primary", elem_id="compare")
            compare_notes = gr.Markdown()
            compare_bars = gr.Plot(show_label=False, elem_id="compare-bars")
            compare_paths = gr.Plot(show_label=False, elem_id="compare-paths")
            compare_table = gr.Dataframe(interactive=False, wrap=True, max_height=420, elem_id="compare-table",
                                         column_widths=["48px", "32%"])
        with new_tab("card") as tab["card"]:
            gr.Markdown(T("view.h_card"))
            gr.Markdown(T("help.card"), elem_classes=["help"])
            card = gr.Markdown(elem_id="card")
            with gr.Row():
                confusion = gr.Plot(show_label=False, min_width=300, elem_id="confusion")
                curves = gr.Plot(show_label=False, min_width=300, elem_id="curves")
        with new_tab("packing") as tab["packing"]:
            gr.Markdown(T("view.h_packing"))
            gr.Markdown(T("help.packing"), elem_classes=["help"])
            packing_text = gr.Textbox(value=PACKING_EXAMPLE, label=T("view.packing_text"), lines=1,
                                      elem_id="packing-text")
            pads = gr.Slider(0, lesson_views.MAX_PADS, value=10, step=1, label=T("view.pads"), elem_id="pads")
            packing_plot = gr.Plot(show_label=False, elem_id="packing-plot")
            packing_table = gr.Markdown(elem_id="packing-table")
            gr.HTML(packing_diagram.PACKING_HTML, elem_id="packing-diagram", padding=False)  # drawn by diagrams.js
            packed = gr.JSON(visible=False, elem_id="packing-payload")
            gr.Markdown(T("view.h_batching"))
            gr.Markdown(T("help.batching"), elem_classes=["help"])
            batching_plot = gr.Plot(show_label=False, elem_id="batching-plot")
            batching_md = gr.Markdown(elem_id="batching-md")
        with new_tab("order") as tab["order"]:
            gr.Markdown(T("view.h_order"))
            gr.Markdown(T("help.order"), elem_classes=["help"])
            with gr.Row():
                order_btn = gr.Button(T("view.order_button"), variant="primary", elem_id="order-read")
                shuffle_btn = gr.Button(T("view.shuffle"), elem_id="order-shuffle")
            order_seed = gr.Number(value=0, precision=0, label=T("view.seed"), interactive=False, elem_id="order-seed")
            order_plot = gr.Plot(show_label=False, elem_id="order-plot")
            order_md = gr.Markdown(elem_id="order-md")
        with new_tab("memory") as tab["memory"]:
            gr.Markdown(T("view.h_memory"))
            gr.Markdown(T("help.memory"), elem_classes=["help"])
            memory_btn = gr.Button(T("view.memory_button"), variant="primary", elem_id="memory-read")
            memory_plot = gr.Plot(show_label=False, elem_id="memory-plot")
            memory_curves = gr.Plot(show_label=False, elem_id="memory-curves")
            memory_md = gr.Markdown(elem_id="memory-md")
        with new_tab("api") as tab["api"]:
            gr.Markdown(T("view.h_api"))
            api_md = gr.Markdown(elem_id="api-md")
    if list(tab) != list(tabs.TAB_NAMES):
        raise RuntimeError(f"the page's tabs {list(tab)} differ from page/tabs.py's table {list(tabs.TAB_NAMES)}")

    private = dict(api_visibility="private")
    page_outputs = [answer, table, notes, importance, payload]
    page_inputs = [text, model, cells, lang_box]
    card_outputs = [model_info, cells, card, confusion, curves]
    draw = dict(fn=None, inputs=[payload], js="(p) => window.rnnReader.draw(p)")  # in the browser only
    run_btn.click(H.read_headlines, page_inputs, page_outputs, **private).then(**draw).then(
        None, js=settings.static("show_answer.js"))
    text.submit(H.read_headlines, page_inputs, page_outputs, **private).then(**draw)
    examples.load_input_event.then(H.read_headlines, page_inputs, page_outputs, **private).then(**draw)
    clear_btn.click(None, None, [text, *page_outputs], js="() => ['', '', null, '', '', null]").then(**draw)  # in the browser
    dims.change(None, [dims], js="(d) => { window.rnnReader.call('setDims', d); }")  # no request: redrawn in place
    cells.input(H.read_headlines, page_inputs, page_outputs, **private).then(**draw)
    cells_section.expand(None, js="() => { setTimeout(() => window.rnnReader.call('drawCells'), 60); }")
    model.input(H.model_changed, [model, lang_box], card_outputs, **private).then(
        H.read_headlines, page_inputs, page_outputs, **private).then(**draw)
    compare_outputs = [compare_bars, compare_table, compare_paths, compare_notes]
    compare_btn.click(H.compare, [text, lang_box], compare_outputs, **private)
    packing_inputs, packing_outputs = [packing_text, pads, lang_box], [packing_plot, packing_table]
    pads.change(H.packing, packing_inputs, packing_outputs, trigger_mode="always_last", **private)
    pack_draw = dict(fn=None, inputs=[packed], js="(p) => window.rnnReader.ready.then(() => rnnDiagrams.drawPacking(p))")
    packing_text.submit(H.packing, packing_inputs, packing_outputs, **private).then(
        H.packing_drawing, [packing_text, lang_box], packed, **private).then(**pack_draw)
    order_inputs, order_outputs = [text, order_seed, lang_box], [order_plot, order_md]
    order_btn.click(H.word_order, order_inputs, order_outputs, **private)
    shuffle_btn.click(H.reshuffle, order_inputs, [order_seed, *order_outputs], **private)
    memory_inputs, memory_outputs = [text, model, lang_box], [memory_plot, memory_curves, memory_md]
    memory_btn.click(H.memory, memory_inputs, memory_outputs, **private)
    on_select = {"compare": (H.compare, [text, lang_box], compare_outputs),  # computed when the tab is opened
                 "order": (H.word_order, order_inputs, order_outputs),
                 "memory": (H.memory, memory_inputs, memory_outputs)}
    for t in tabs.TABS:
        tab[t.name].select(None, None, tab_box, js=f"() => '{t.name}'")  # browser-only: remembered for the link
        if t.on_select:
            tab[t.name].select(*on_select[t.name], **private)
    view = [model, text, packing_text, pads, lang_box, tab_box, dims]  # what a link to this view carries
    link_btn.click(None, view, link_box, js=settings.link_js("return link;"))
    for code, button in lang_buttons.items():  # same frame (an iframe never navigates its host page)
        button.click(None, view, None, js=settings.link_js(f"location.assign(link.replace(/([?&]lang=)[^&]*/, '$1{code}'));"))
    full_lesson.click(None, view, None, js=settings.link_js("window.open(link.replace(/&embed=1/, ''), '_blank', 'noopener');"))
    demo.load(H.open_page, None, [lang_box, model, dims, tab_bar, tab_box, link_notes, limits_md, widget_md,
                                  problems_md, api_md, examples.dataset, text, packing_text, pads,
                                  *tab.values(), *card_outputs, *page_outputs], **private).then(**draw).then(
        H.open_tab_view, [tab_box, text, model, lang_box], [*compare_outputs, *order_outputs, *memory_outputs],
        **private).then(
        H.packing, packing_inputs, packing_outputs, **private).then(
        H.packing_drawing, [packing_text, lang_box], packed, **private).then(**pack_draw).then(
        H.batching, [lang_box], [batching_plot, batching_md], **private)

    api_predict, api_analyze = H.api_functions()
    gr.api(api_predict, api_name="predict")
    gr.api(api_analyze, api_name="analyze")

# Overload policy (page/settings.py, docs/app.md): at most RNN_DEMO_CONCURRENCY requests of one event
# at a time and RNN_DEMO_QUEUE_SIZE waiting in all; beyond that a request is refused at once.
# api_open=False: /gradio_api/run/... and /gradio_api/api/... refuse queued events instead of running
# them outside the queue; request bodies over RNN_DEMO_MAX_BODY_KB get 413 (settings.BodyLimit).
demo.queue(default_concurrency_limit=settings.concurrency(), max_size=settings.queue_size(), api_open=False)
LAUNCH_OPTIONS = settings.launch_options(I18N, i18n.head_script() + assets.head(), assets.routes(REGISTRY, WIDGET_INDEX))

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # gradio's own start-up probes
    host, port = settings.server_address()
    demo.launch(server_name=host, server_port=port, **LAUNCH_OPTIONS)
