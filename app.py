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
from page import i18n, lesson_views, settings, tabs  # noqa: E402
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
WIDGET_INDEX = widget_index(os.environ.get("RNN_DEMO_WIDGET", ROOT / "web_site"))
if WIDGET_INDEX is not None:
    gr.set_static_paths([WIDGET_INDEX.parent])
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
            model = gr.Dropdown([(n, n) for n in H.models], value=DEFAULT, label=T("app.model"), elem_id="model")
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
        with gr.Column(scale=2, min_width=280):
            examples = gr.Examples([[e] for e in EXAMPLES] + [[MULTI_EXAMPLE]], inputs=[text],
                                   label=T("app.examples"), examples_per_page=11,
                                   example_labels=[*EXAMPLES, i18n.tr("app.multi_example")])
            with gr.Row():
                link_btn = gr.Button(T("app.link"), size="sm", elem_id="link-btn")
            link_box = gr.Textbox(label=T("app.link_label"), interactive=False, buttons=["copy"], elem_id="link",
                                  lines=1, max_lines=3)

    tab = {}  # tab name -> gr.Tab, made from the tab table
    with gr.Tabs(selected=tabs.BY_NAME["read"].elem_id) as tab_bar:
        with new_tab("read") as tab["read"]:
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
                cells = gr.Dropdown(**H.cell_args(DEFAULT), label=T("app.cells"), elem_id="cells")
                internals = gr.Plot(label=T("view.h_cells"), show_label=False, elem_id="internals")
        with new_tab("compare") as tab["compare"]:
            gr.Markdown(T("view.h_compare"))
            gr.Markdown(T("help.compare"))
            compare_btn = gr.Button(T("view.compare_button"), variant="primary", elem_id="compare")
            compare_notes = gr.Markdown()
            compare_bars = gr.Plot(show_label=False, elem_id="compare-bars")
            compare_paths = gr.Plot(show_label=False, elem_id="compare-paths")
            compare_table = gr.Dataframe(interactive=False, wrap=True, max_height=420, elem_id="compare-table",
                                         column_widths=["48px", "32%"])
        with new_tab("card") as tab["card"]:
            gr.Markdown(T("view.h_card"))
            gr.Markdown(T("help.card"))
            card = gr.Markdown(elem_id="card")
            with gr.Row():
                confusion = gr.Plot(show_label=False, min_width=300, elem_id="confusion")
                curves = gr.Plot(show_label=False, min_width=300, elem_id="curves")
        with new_tab("packing") as tab["packing"]:
            gr.Markdown(T("view.h_packing"))
            gr.Markdown(T("help.packing"))
            packing_text = gr.Textbox(value=PACKING_EXAMPLE, label=T("view.packing_text"), lines=1,
                                      elem_id="packing-text")
            pads = gr.Slider(0, lesson_views.MAX_PADS, value=10, step=1, label=T("view.pads"), elem_id="pads")
            packing_plot = gr.Plot(show_label=False, elem_id="packing-plot")
            packing_table = gr.Markdown(elem_id="packing-table")
            gr.Markdown(T("view.h_batching"))
            gr.Markdown(T("help.batching"))
            batching_plot = gr.Plot(show_label=False, elem_id="batching-plot")
            batching_md = gr.Markdown(elem_id="batching-md")
        with new_tab("order") as tab["order"]:
            gr.Markdown(T("view.h_order"))
            gr.Markdown(T("help.order"))
            with gr.Row():
                order_btn = gr.Button(T("view.order_button"), variant="primary", elem_id="order-read")
                shuffle_btn = gr.Button(T("view.shuffle"), elem_id="order-shuffle")
            order_seed = gr.Number(value=0, precision=0, label=T("view.seed"), interactive=False, elem_id="order-seed")
            order_plot = gr.Plot(show_label=False, elem_id="order-plot")
            order_md = gr.Markdown(elem_id="order-md")
        with new_tab("memory") as tab["memory"]:
            gr.Markdown(T("view.h_memory"))
            gr.Markdown(T("help.memory"))
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
    page_outputs = [answer, table, notes, trajectory, prefix, importance, internals]
    page_inputs = [text, model, dims, cells, cells_open, lang_box]
    card_outputs = [model_info, cells, card, confusion, curves]
    run_btn.click(H.read_headlines, page_inputs, page_outputs, **private).then(
        None, js=settings.static("show_answer.js"))
    text.submit(H.read_headlines, page_inputs, page_outputs, **private)
    examples.load_input_event.then(H.read_headlines, page_inputs, page_outputs, **private)  # a click runs it
    clear_btn.click(lambda: ("", "", None, "", None, None, "", None), None,
                    [text, answer, table, notes, trajectory, prefix, importance, internals], **private)
    dims.change(H.redraw_trajectory, [text, model, dims, lang_box], trajectory, **private)
    cells.input(H.redraw_internals, [text, model, cells, lang_box], internals, **private)
    cells_section.expand(lambda: "1", None, cells_open, queue=False, **private).then(
        H.redraw_internals, [text, model, cells, lang_box], internals, **private)
    cells_section.collapse(lambda: "0", None, cells_open, queue=False, **private)
    model.input(H.model_changed, [model, lang_box], card_outputs, **private).then(
        H.read_headlines, page_inputs, page_outputs, **private)
    compare_outputs = [compare_bars, compare_table, compare_paths, compare_notes]
    compare_btn.click(H.compare, [text, lang_box], compare_outputs, **private)
    packing_inputs, packing_outputs = [packing_text, pads, lang_box], [packing_plot, packing_table]
    pads.change(H.packing, packing_inputs, packing_outputs, trigger_mode="always_last", **private)
    packing_text.submit(H.packing, packing_inputs, packing_outputs, **private)
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
    link_btn.click(None, [model, text, packing_text, pads, lang_box, tab_box, dims], link_box,
                   js=settings.static("link.js", tabs=tabs.link_table()))
    demo.load(H.open_page, None, [lang_box, model, dims, tab_bar, tab_box, link_notes, limits_md, widget_md,
                                  problems_md, api_md, examples.dataset, text, packing_text, pads,
                                  *tab.values(), *card_outputs, *page_outputs[:-1]], **private).then(
        H.open_tab_view, [tab_box, text, model, lang_box], [*compare_outputs, *order_outputs, *memory_outputs],
        **private).then(
        H.packing, packing_inputs, packing_outputs, **private).then(
        H.batching, [lang_box], [batching_plot, batching_md], **private)

    api_predict, api_analyze = H.api_functions()
    gr.api(api_predict, api_name="predict")
    gr.api(api_analyze, api_name="analyze")

# Overload policy (page/settings.py, docs/app.md): at most RNN_DEMO_CONCURRENCY requests of one event
# at a time and RNN_DEMO_QUEUE_SIZE waiting in all; beyond that a request is refused at once.
demo.queue(default_concurrency_limit=settings.concurrency(), max_size=settings.queue_size())
LAUNCH_OPTIONS = settings.launch_options(I18N, i18n.head_script())

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # gradio's own start-up probes
    host, port = settings.server_address()
    demo.launch(server_name=host, server_port=port, **LAUNCH_OPTIONS)
