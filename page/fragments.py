"""The page's small HTML fragments: the answer bars and the word-importance chips.

They are HTML (not gr.Label / gr.HighlightedText) so that they use the class palette of the figures
(`figures.CLASS_COLORS`, Okabe-Ito), print their numbers and stay readable at phone width.
Everything typed by a user is escaped.
"""
from __future__ import annotations

import html
from typing import Mapping, Sequence

import numpy as np

from .figures import CLASS_COLORS
from .i18n import class_label, tr


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


FOR_RGB, AGAINST_RGB = (213, 94, 0), (93, 58, 155)  # vermillion ("orange" in the help) / purple


def _luminance(rgb: Sequence[float]) -> float:
    c = np.asarray(rgb, dtype=float) / 255
    return float(np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4) @ (0.2126, 0.7152, 0.0722))


def chip_style(rgb: Sequence[int], alpha: float) -> str:
    """A chip's background (the colour at `alpha` over the white page) and the text colour, black or
    white, whichever contrasts more with it: at least 4.58:1 for any background (WCAG AA)."""
    shown = [alpha * v + (1 - alpha) * 255 for v in rgb]
    text = "#000000" if (_luminance(shown) + 0.05) / 0.05 >= 1.05 / (_luminance(shown) + 0.05) else "#ffffff"
    return f"background:rgba({','.join(str(v) for v in rgb)},{alpha:.2f});color:{text}"


def importance_html(tokens: Sequence[str], scores: np.ndarray, known: Sequence[bool]) -> str:
    """Each word with its occlusion score written under it, in percentage points of the answer's probability.

    scores: (T,) drop in the predicted class's probability when the word is hidden (positive: the word
    supported the answer, and hiding it lowers the probability). Background opacity runs from 0.25
    to 1 with |score| / max |score|, so even the weakest "against" word is visible; the sign is also
    in the colour and in the number.
    """
    scores = np.asarray(scores, dtype=float)
    scale = float(np.abs(scores).max()) or 1.0
    chips = []
    for tok, s, k in zip(tokens, scores, known):
        strength = 0.25 + 0.75 * abs(s) / scale
        word = html.escape(tok) + ("" if k else f' <em>({html.escape(tr("note.unknown_suffix"))})</em>')
        chips.append(f'<span class="chip" style="{chip_style(FOR_RGB if s >= 0 else AGAINST_RGB, strength)}">'
                      f'<span class="w">{word}</span><span class="n">{100 * s:+.1f}</span></span>')
    legend = (f'<div class="legend"><span class="chip" style="{chip_style(FOR_RGB, 0.8)}">+</span> '
              f'{html.escape(tr("app.importance_for"))} '
              f'<span class="chip" style="{chip_style(AGAINST_RGB, 0.8)}">−</span> '
              f'{html.escape(tr("app.importance_against"))}</div>')
    return f'<div class="importance">{"".join(chips)}</div>{legend}'
