"""The page's Gradio handlers: each takes what is on screen (and the page's language) and returns
what the views show, through `views`, `card` and `lesson_views`.

`Handlers` holds the registry; app.py wires its methods to the page's events. A handler marked
`@localized` takes the page's language as its last argument and builds every text and figure in it.
"""
from __future__ import annotations

import functools
import html
import inspect
import logging
from pathlib import Path

import gradio as gr

from rnn_demo.catalog import EXAMPLES, default_model, lesson_order

from . import card, i18n, lesson_views, links, packing_diagram, settings, views
from .inputs import MAX_CHARS, MAX_HEADLINES, InputError, split_headlines
from .registry import Registry, UnknownModelError
from .tabs import BY_NAME, TABS

LOG = logging.getLogger("rnn_demo.app")
MAX_MODEL_NAME = 100  # longer "model names" are not echoed back (nor into the log)
API_EXAMPLE = """```python
from gradio_client import Client
client = Client("{address}")   # or the Space id, e.g. "user/rnn-demo"
client.predict("Striker scores twice in stoppage time", "{model}", api_name="/predict")
# -> {{"World": 0.01, "Sports": 0.97, ...}}
client.predict("Striker scores twice in stoppage time", "{model}", api_name="/analyze")
# -> {{"tokens": [...], "probabilities": {{...}}, "per_token_probabilities": [...],
#     "trajectory": {{...}}, "importances": [...], "memory": [...], "word_order": {{...}}, ...}}
```"""


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


class Handlers:
    """The page's event handlers over one registry."""

    def __init__(self, reg: Registry, widget_index: Path | None = None) -> None:
        self.reg = reg
        self.models = lesson_order(reg.names)  # the dropdown, the API tab and links list models in this order
        self.default_model = default_model(reg.names)
        self.widget_index = widget_index

    # ---- pieces of the layout

    def model_info(self, model: str) -> str:
        entry = self.reg.get(model)
        return f"**{entry.name}**: {html.escape(card.describe(entry))} ({card.size_line(entry)})"

    def cell_args(self, model: str) -> dict:
        """Layer/direction picker: translated labels, English values; hidden when there is one choice
        (and empty for the bag of embeddings, which has no cell)."""
        choices = views.internals_choices(self.reg, model)
        default = choices[-self.reg.get(model).ckpt.config.num_directions] if choices else None
        return dict(choices=[(views.internals_label(c), c) for c in choices], value=default, visible=len(choices) > 1)

    def cell_layout_args(self) -> dict:
        """The picker as laid out: the default model's value and visibility, but every model's
        choices, so a session rebuilt from the layout (Gradio evicted it) accepts any model's value."""
        args = self.cell_args(self.default_model)
        every = [c for m in self.models for c in views.internals_choices(self.reg, m)]
        args["choices"] = [(views.internals_label(c), c) for c in sorted(set(every), key=lambda c: (
            int(c.split()[1]), c.split()[2] != "forward"))]
        return args

    # ---- the Read tab

    @localized
    def read_headlines(self, text: str, model: str, cell_choice: str | None):
        """The Read tab for the typed headlines: answer, table, notes and word chips as HTML, and the
        numbers of every drawn view (trajectory, stepper, prediction as it reads, cells) for the browser."""
        r = views.analyze_page(self.reg, text, model, cell_choice)
        return r.answer, gr.Dataframe(value=r.table, visible=r.table is not None), r.notes, r.importance, r.payload

    @localized
    def model_changed(self, model: str):
        markdown, confusion, curves = card.model_card(self.reg, model)
        return self.model_info(model), gr.Dropdown(**self.cell_args(model)), markdown, confusion, curves

    # ---- the other tabs

    @localized
    def compare(self, text: str):
        return views.compare_view(self.reg, text)

    @localized
    def packing(self, text: str, k: float):
        return lesson_views.packing_view(self.reg, text, int(k))

    @localized
    def packing_drawing(self, text: str):
        """The packing tab's drawing: the lesson's padded batch and the typed headlines, packed by torch."""
        return packing_diagram.packing_json(self.reg, text)

    @localized
    def batching(self):
        return lesson_views.batching_view(self.reg)

    @localized
    def word_order(self, text: str, seed: float):
        return lesson_views.word_order_view(self.reg, text, int(seed))

    @localized
    def reshuffle(self, text: str, seed: float):
        """A new seed for the shuffled variant (the figure and words follow it)."""
        seed = int(seed) + 1
        return (seed, *lesson_views.word_order_view(self.reg, text, seed))

    @localized
    def memory(self, text: str, model: str):
        return lesson_views.memory_view(self.reg, text, model)

    # ---- page load and deep links

    def open_page(self, request: gr.Request):
        """Page load: the language (?lang=, else the browser's) and a deep link's model, text, tab, k, dims.

        Every parameter is validated (links.parse_link); what was not usable is said in the page's
        language. Returns, in this order: language, model, projection, tabs, tab name, link notes,
        limits, widget link, problems, API text, examples, headlines, packing text, pads, one title
        per tab of `TABS`, the model card's outputs (`model_changed`) and the Read views
        (`read_headlines`: the browser draws them from its last output).
        """
        params = dict(request.query_params) if request is not None else {}
        headers = dict(request.headers) if request is not None else {}
        lang, _ = i18n.choose(params.get("lang"), headers.get("accept-language"))
        link = links.parse_link(params, self.models, self.default_model, lesson_views.MAX_PADS)
        dims = "3-D" if link.dims == 3 else "2-D"
        text = link.text if link.text is not None else gr.skip()
        packing_text = link.text if link.text is not None and BY_NAME[link.tab].text == "packing" else gr.skip()
        with i18n.language(lang):
            notes = links.notes_markdown(link.notes)  # the URL's values as plain text
            limits = i18n.tr("app.limits", headlines=MAX_HEADLINES, chars=f"{MAX_CHARS:,}")
            # Tab titles and the examples' captions: gr.I18n alone leaves them in the browser's first
            # language when ?lang= switches it after start-up, so they are also sent in the page's language.
            titles = [gr.Tab(label=i18n.tr(tab.title_key)) for tab in TABS]
            samples = gr.Dataset(sample_labels=[*EXAMPLES, i18n.tr("app.multi_example")])
            # the model card and the Read views in the same answer: one round trip fewer before the page is drawn
            card_out = self.model_changed.__wrapped__(self, link.model)
            shown = link.text if link.text is not None else EXAMPLES[0]
            cell = self.cell_args(link.model)["value"]
            read_out = self.read_headlines.__wrapped__(self, shown, link.model, cell)
            head = (lang, link.model, dims, gr.Tabs(selected=BY_NAME[link.tab].elem_id), link.tab, notes, limits,
                    *self.static_markdown(app_root(request)), samples, text, packing_text,
                    link.k if link.k is not None else gr.skip())
        return (*head, *titles, *card_out, *read_out)

    def static_markdown(self, root: str = "") -> tuple[str, str, str]:
        """(widget link, problems, API text) in the current language (they carry values, so not gr.I18n).
        `root`: the app's public address, so that the widget link works from a page that embeds the app
        and the API example connects to the page's own address."""
        widget = i18n.tr("app.widget_link", url=f"{root}/widget/") if self.widget_index is not None else ""
        address = (root or "http://127.0.0.1:7860") + "/"
        problems = (i18n.tr("app.not_loaded", problems="; ".join(html.escape(p) for p in self.reg.problems))
                    if self.reg.problems else "")
        api = "\n".join([i18n.tr("app.api_intro"), API_EXAMPLE.format(model=self.default_model, address=address),
                         i18n.tr("app.api_models", names=", ".join(f"`{n}`" for n in self.models)), "",
                         i18n.tr("app.api_backend", backend=self.reg.backend)])
        return widget, problems, api

    @localized
    def open_tab_view(self, tab: str, text: str, model: str):
        """After a deep link: compute the chosen tab too when it has no button (tabs.Tab.on_open)."""
        opened = BY_NAME.get(tab)
        wanted = opened.name if opened is not None and opened.on_open else None
        compare_out = self.compare.__wrapped__(self, text) if wanted == "compare" else (gr.skip(),) * 4
        order_out = self.word_order.__wrapped__(self, text, 0) if wanted == "order" else (gr.skip(),) * 2
        memory_out = self.memory.__wrapped__(self, text, model) if wanted == "memory" else (gr.skip(),) * 3
        return (*compare_out, *order_out, *memory_out)

    # ---- the named API endpoints (type hints define their schema)

    def api_functions(self):
        """(predict, analyze) for gr.api: checked arguments, expected errors as one log line each."""
        default = self.default_model

        def predict(text: str, model: str = default, request: gr.Request = None) -> dict:
            """Class probabilities {class: probability} for one headline (the first line of `text`)."""
            try:
                text, model = self._checked("predict", text, model)
                return views.predict(self.reg, text, model)
            except (InputError, UnknownModelError) as exc:
                raise _user_error("predict", str(exc)) from None
            finally:  # the call's session (with its text) is not kept: see settings.forget_session
                settings.forget_session(request)

        def analyze(text: str, model: str = default, request: gr.Request = None) -> dict:
            """Tokens, probabilities, per-token (prefix) probabilities, projected trajectory, word
            importances, memory and word order for the first headline."""
            try:
                text, model = self._checked("analyze", text, model)
                return views.analyze(self.reg, text, model)
            except (InputError, UnknownModelError) as exc:
                raise _user_error("analyze", str(exc)) from None
            finally:
                settings.forget_session(request)

        return predict, analyze

    def _checked(self, endpoint: str, text, model) -> tuple[str, str]:
        """The API's arguments as strings, or the same kind of clear error as any other bad input.

        gradio_client passes JSON through unchecked, so text may arrive as a number, list or dict.
        """
        valid = ", ".join(self.reg.names)
        if text is not None and not isinstance(text, str):
            raise _user_error(endpoint, f"text must be a string (one headline per line), got {type(text).__name__}.")
        if not isinstance(model, str):
            raise _user_error(endpoint, f"model must be a model name (a string), got {type(model).__name__}; "
                                        f"valid models: {valid}")
        if len(model) > MAX_MODEL_NAME:
            raise _user_error(endpoint, f"unknown model (a {len(model):,}-character name); valid models: {valid}")
        return text or "", model


def app_root(request: gr.Request | None) -> str:
    """The app's address as the browser reached it, without a trailing slash: Gradio's own rule (a proxy's
    X-Forwarded-Host/-Proto first, else the request's host), so it is right on a Space, behind a proxy and
    inside <gradio-app> on another site; "" (links relative to the page) when it cannot be told."""
    from gradio import route_utils

    raw = getattr(request, "request", None)
    try:
        return route_utils.get_root_url(raw, route_utils.get_api_call_path(raw), None)
    except (AttributeError, ValueError, TypeError):  # no request (tests, API calls without one)
        return ""


def _user_error(endpoint: str, message: str) -> gr.Error:
    """An expected bad request: one log line (no traceback) and the message for the client."""
    LOG.warning("bad request to /%s: %s", endpoint, " ".join(message.split())[:300])
    return gr.Error(message, print_exception=False)
