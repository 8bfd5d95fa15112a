"""Page helpers that need no Gradio: the answer bars, the word-importance strip, deep-link parsing.

The answer and the importance strip are small HTML fragments (not gr.Label / gr.HighlightedText)
so that they use the class palette of the figures (plots.CLASS_COLORS, Okabe-Ito), print their
numbers, and stay readable at phone width. Everything typed by a user is escaped.
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from .i18n import class_label, languages, tr
from .plots import CLASS_COLORS

# Deep-link tab names -> the ids of the app's gr.Tab elements.
TABS = {"read": "read-tab", "compare": "compare-tab", "card": "card-tab", "packing": "packing-tab",
        "order": "order-tab", "memory": "memory-tab", "api": "api-tab"}
MAX_LINK_TEXT = 2000
# The lesson's order: the baseline, then the lesson's three models, then the stronger ones.
MODEL_ORDER = ("bag-of-embeddings", "lesson-rnn", "lesson-lstm", "lesson-lstm-packed", "gru", "bilstm", "bilstm-2layer")


def lesson_order(names: Sequence[str]) -> list[str]:
    """Model names in the lesson's order; models it does not know follow, alphabetically."""
    return sorted(names, key=lambda n: (MODEL_ORDER.index(n) if n in MODEL_ORDER else len(MODEL_ORDER), n))  # a link's text beyond this is cut (with a note); URLs that long are fragile anyway


def answer_html(probs: Mapping[str, float] | None, class_names: Sequence[str], message: str = "") -> str:
    """Horizontal bars, one per class in class order, each in its class colour, with the percentage written.

    probs None -> just the message (e.g. "not English": no confident-looking bars from unknown words).
    """
    if not probs:
        return f'<div class="answer answer-empty">{html.escape(message)}</div>' if message else ""
    best = max(probs, key=probs.get)
    rows = []
    for c, name in enumerate(class_names):
        p = float(probs.get(name, 0.0))
        color = CLASS_COLORS[c % len(CLASS_COLORS)]
        label = html.escape(class_label(name))
        strong = ' class="best"' if name == best else ""
        rows.append(f'<div class="bar-row"><span{strong}>{label}</span>'
                    f'<span class="bar" role="img" aria-label="{label} {100 * p:.1f}%">'
                    f'<span style="width:{100 * p:.1f}%;background:{color}"></span></span>'
                    f'<span class="pct">{100 * p:.1f}%</span></div>')
    head = f'<div class="answer-top">{html.escape(class_label(best))} <small>{100 * probs[best]:.0f}%</small></div>'
    return f'<div class="answer">{head}{"".join(rows)}</div>'


def importance_html(tokens: Sequence[str], scores: np.ndarray, known: Sequence[bool]) -> str:
    """Each word with its occlusion score written under it, in percentage points of the answer's probability.

    scores: (T,) drop in the predicted class's probability when the word is hidden (positive: the word
    supported the answer). Background opacity runs from 0.25 to 1 with |score| / max |score|, so
    even the weakest "against" word is visible; the sign is also in the colour and in the number.
    """
    scores = np.asarray(scores, dtype=float)
    scale = float(np.abs(scores).max()) or 1.0
    chips = []
    for tok, s, k in zip(tokens, scores, known):
        strength = 0.25 + 0.75 * abs(s) / scale
        rgb = "213,94,0" if s >= 0 else "93,58,155"  # vermillion (for) / purple (against)
        word = html.escape(tok) + ("" if k else f' <em>({html.escape(tr("note.unknown_suffix"))})</em>')
        chips.append(f'<span class="chip" style="background:rgba({rgb},{strength:.2f})">'
                      f'<span class="w">{word}</span><span class="n">{100 * s:+.1f}</span></span>')
    legend = (f'<div class="legend"><span class="chip" style="background:rgba(213,94,0,.8)">+</span> '
              f'{html.escape(tr("app.importance_for"))} '
              f'<span class="chip" style="background:rgba(93,58,155,.8)">−</span> '
              f'{html.escape(tr("app.importance_against"))}</div>')
    return f'<div class="importance">{"".join(chips)}</div>{legend}'


@dataclass
class DeepLink:
    """A validated `?model=…&text=…&tab=…&k=…&dims=…&lang=…`; `notes` are translation calls for the page."""

    model: str
    text: str | None = None
    tab: str = "read"
    k: int | None = None
    dims: int = 2
    notes: list[tuple[str, dict]] = field(default_factory=list)


def parse_link(params: Mapping[str, str], models: Sequence[str], default_model: str, max_pads: int) -> DeepLink:
    """Never raises: an unknown model/tab/lang, a bad k or an over-long text becomes a note."""
    link = DeepLink(model=default_model)
    model = (params.get("model") or "").strip()
    if model:
        if model in models:
            link.model = model
        else:
            link.notes.append(("note.link_unknown_model", dict(value=model[:60], model=default_model,
                                                               names=", ".join(models))))
    text = params.get("text")
    if text is not None and text.strip():
        if len(text) > MAX_LINK_TEXT:
            link.notes.append(("note.link_long_text", dict(chars=f"{len(text):,}", kept=f"{MAX_LINK_TEXT:,}")))
            text = text[:MAX_LINK_TEXT]
        link.text = text
    tab = (params.get("tab") or "").strip().lower()
    if tab:
        if tab in TABS:
            link.tab = tab
        else:
            link.notes.append(("note.link_unknown_tab", dict(value=tab[:40], names=", ".join(TABS))))
    k = params.get("k")
    if k is not None and k.strip():
        try:
            value = int(k.strip())
        except ValueError:
            value = None
        if value is None or not 0 <= value <= max_pads:
            fixed = 0 if value is None else max(0, min(max_pads, value))
            link.notes.append(("note.link_bad_k", dict(value=k[:20], max=max_pads, k=fixed)))
            value = fixed
        link.k = value
    dims = (params.get("dims") or "").strip()
    if dims:
        if dims in ("2", "3"):
            link.dims = int(dims)
        else:
            link.notes.append(("note.link_bad_dims", dict(value=dims[:20])))
    lang = params.get("lang")
    if lang and lang.strip().lower().split("-")[0] not in languages():
        link.notes.append(("note.link_unknown_lang", dict(value=lang[:20], names=", ".join(languages()))))
    return link
