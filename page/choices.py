"""The page's choice inputs (model, projection, layer/direction): a value Gradio refuses is one log line.

Gradio checks a Dropdown's or Radio's value against the choices of the *session's* copy of the
component before the handler runs, and prints a full traceback when it is not there ("Value: …
is not in the list of choices"). These subclasses log that refusal as one warning line naming
the input, and give the browser the same message without the traceback. They render exactly as
gr.Dropdown / gr.Radio (`is_template`: the browser loads the parent's component).

Choices that change per model (the layer/direction picker) are built at layout time as the union
over every model (`Handlers.cell_layout_args`), so a session that Gradio evicted, and rebuilt from
the layout, still accepts any value a page can send; the handler falls back to the model's
default for a value that model lacks (`views.internals_view`).
"""
from __future__ import annotations

import logging

import gradio as gr

LOG = logging.getLogger("rnn_demo.app")


def _refused(component, exc: gr.Error) -> gr.Error:
    name = component.elem_id or type(component).__name__
    LOG.warning("refused a value for the %s input: %s", name, " ".join(str(exc).split())[:300])
    return gr.Error(str(exc), print_exception=False)


# Two small classes, not one mixin: Gradio picks a template component's frontend from its first base
# class (Block.get_block_name uses __class__.__base__), so the Gradio component must come first.
class Choice(gr.Dropdown):
    """gr.Dropdown whose refused value is logged in one line."""

    is_template = True

    def preprocess(self, payload):
        try:
            return super().preprocess(payload)
        except gr.Error as exc:
            raise _refused(self, exc) from None


class Options(gr.Radio):
    """gr.Radio whose refused value is logged in one line."""

    is_template = True

    def preprocess(self, payload):
        try:
            return super().preprocess(payload)
        except gr.Error as exc:
            raise _refused(self, exc) from None
