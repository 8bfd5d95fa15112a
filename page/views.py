"""What the Read and Compare tabs show, and the data of the `/predict` and `/analyze` API.

Pure functions of a `Registry` and plain inputs (headline text, model name) that return dicts,
tables, HTML fragments and Plotly figures, so everything here is tested without a server.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from rnn_demo import states
from rnn_demo.catalog import lesson_order
from rnn_demo.projection import Projection

from . import figures, lesson_views, reader
from .fragments import answer_html, importance_html
from . import i18n
from .i18n import class_label
from .inputs import (first_headline, input_problem, not_english, notes_markdown, problem_label, problem_note,
                     split_headlines, vocabulary_notes)
from .registry import ModelEntry, Registry

COMPARE_PATHS = 4  # trajectories per small multiple


def predict(reg: Registry, text: str, model: str) -> dict[str, float]:
    """{class: probability} for the first headline of `text`."""
    entry = reg.get(model)
    headline, _ = first_headline(text)
    probs = entry.predictor.predict_proba([headline])[0]
    return {c: float(p) for c, p in zip(entry.ckpt.class_names, probs)}


def _round(x, digits: int = 5):
    return np.round(np.asarray(x, dtype=np.float64), digits).tolist()


def trajectory_coords(entry: ModelEntry, tr: states.Trace) -> list[dict]:
    """Per direction: the headline's states projected with the stored PCA, in token order."""
    hidden = entry.ckpt.config.hidden_size
    out = []
    for d in range(entry.projection.num_directions):
        part = tr.states[:, d * hidden:(d + 1) * hidden]
        out.append({"direction": states.DIRECTION_NAMES[d],
                    "coords": entry.projection.project(d, part),
                    "readout": entry.projection.project(d, tr.pooled[d * hidden:(d + 1) * hidden])})
    return out


def analyze(reg: Registry, text: str, model: str) -> dict:
    """Everything the page shows for the first headline, as JSON-ready data."""
    entry = reg.get(model)
    headline, notes = first_headline(text)
    notes += vocabulary_notes(entry, headline)
    tr = reg.trace(model, headline)
    classes = entry.ckpt.class_names
    prefix = states.prefix_probabilities(entry.ckpt.model, tr.ids)
    importance = states.occlusion_importance(entry.ckpt.model, tr.ids)
    probs = entry.predictor.predict_proba([headline])[0]
    if entry.projection is None:  # the bag: no hidden state, so no trajectory
        trajectory = None
        notes.append(f"{entry.name} has no hidden state, so there is no trajectory and no memory (both null).")
    else:
        trajectory = {
            "space": f"PCA of the last layer's per-word states ({entry.ckpt.config.hidden_size} units per direction)",
            "stored_projection": not entry.projection_note,
            "explained_variance_ratio": entry.projection.meta.get("explained_variance_ratio"),
            "directions": [{"direction": t["direction"], "coords": _round(t["coords"]),
                            "classifier_input": _round(t["readout"])}
                           for t in trajectory_coords(entry, tr)],
        }
    return {
        "model": entry.name,
        "headline": headline,
        # why the page shows no answer for this headline (page.inputs.INPUT_PROBLEMS), null when it does
        "input_problem": input_problem(headline, entry.ckpt.vocab),
        "tokens": tr.tokens,
        "in_vocabulary": tr.known,
        "probabilities": {c: float(p) for c, p in zip(classes, probs)},
        "predicted": classes[int(np.argmax(probs))],
        "per_token_probabilities": [{c: float(p) for c, p in zip(classes, row)} for row in _round(prefix, 6)],
        "importances": [{"token": t, "score": float(s)} for t, s in zip(tr.tokens, _round(importance, 6))],
        "importance_method": "occlusion: drop in the predicted class's probability when the word "
                             "is replaced by the unknown word",
        "trajectory": trajectory,
        # ||d h_T / d x_t|| per token (the memory view); null for the bag of embeddings
        "memory": lesson_views.memory_api(entry, tr.ids),
        "memory_method": "Frobenius norm of the Jacobian of the final hidden state (bidirectional: forward "
                         "after the last word and backward after the first) w.r.t. each word's embedding",
        # the same words reversed and shuffled (seed 0) and what the model answers for them
        "word_order": lesson_views.word_order_api(entry, headline, seed=0),
        "notes": notes + ([entry.projection_note] if entry.projection_note else []),
    }


# ---------------------------------------------------------------- page views

def _axis_labels(proj: Projection, d: int) -> tuple[str, str, str]:
    ratios = proj.meta.get("explained_variance_ratio")
    if not ratios:
        return ("PC1", "PC2", "PC3")
    return tuple(f"PC{i + 1} ({100 * r:.0f}%)" for i, r in enumerate(ratios[d]))  # type: ignore[return-value]


def trajectory_panels(entry: ModelEntry, headlines: list[str], traces: list[states.Trace],
                      compact: bool = False) -> list[dict]:
    """Panels for `figures.trajectory_figure`: one per direction, paths in reading order."""
    proj = entry.projection
    mean_pool = entry.ckpt.config.pooling == "mean"
    panels = []
    for d in range(proj.num_directions):
        paths = []
        for headline, tr in zip(headlines, traces):
            coords = trajectory_coords(entry, tr)[d]
            xyz, tokens = coords["coords"], list(tr.tokens)
            if d == 1:  # the backward direction reads from the last word to the first
                xyz, tokens = xyz[::-1], tokens[::-1]
            paths.append({"name": headline, "coords": xyz, "tokens": tokens,
                          "readout": coords["readout"] if mean_pool else None})
        direction = i18n.tr(f"plot.{states.DIRECTION_NAMES[d]}")
        if proj.num_directions == 1:
            title = f"{entry.name}" if compact else i18n.tr("plot.trajectory_panel", model=entry.name)
        else:
            arrow = i18n.tr("plot.left_right" if d == 0 else "plot.right_left")
            title = f"{entry.name} {direction}" if compact else \
                i18n.tr("plot.trajectory_dir", model=entry.name, direction=direction, arrow=arrow)
        panels.append({"title": title, "cloud": proj.clouds[d], "labels": proj.labels, "paths": paths,
                       "axis": _axis_labels(proj, d)})
    return panels


def internals_choices(reg: Registry, model: str) -> list[str]:
    """The cell picker's values for a model: 'layer L forward|backward' (none for the bag)."""
    return reader.cell_choices(reg.get(model))


def internals_label(choice: str) -> str:
    """'layer 1 forward' (the value) -> its label in the current language."""
    _, layer, direction = choice.split()
    return i18n.tr("plot.layer", layer=layer, direction=i18n.tr(f"plot.{direction}"))


def headline_table(entry: ModelEntry, headlines: list[str], probs: np.ndarray) -> pd.DataFrame:
    classes = list(entry.ckpt.class_names)
    rows = []
    for i, (h, p) in enumerate(zip(headlines, probs)):
        tokens = entry.ckpt.vocab.tokenize(h)
        unknown = sum(t not in entry.ckpt.vocab for t in tokens)
        problem = input_problem(h, entry.ckpt.vocab)
        answer = problem_label(problem) if problem else class_label(classes[int(np.argmax(p))])
        rows.append([i + 1, h, answer, *(round(float(v), 4) for v in p), f"{unknown}/{len(tokens)}"])
    columns = [i18n.tr(k) for k in ("card.col_index", "card.col_headline", "card.col_predicted")]
    return pd.DataFrame(rows, columns=[*columns, *map(class_label, classes), i18n.tr("card.col_unknown")])


@dataclass
class PageResult:
    """Everything the Read tab shows for a text, ready for the page."""

    label: dict | None  # {class: probability} of the first headline; None when there is nothing to answer
    answer: str  # the answer bars (HTML)
    table: pd.DataFrame | None  # every headline's answer; None when there is no headline
    notes: str  # Markdown
    importance: str  # the word chips (HTML)
    payload: dict | None  # the numbers the browser draws the Read views from (page/reader.py); None: nothing


def empty_page(message: str) -> PageResult:
    """No input: a message, and no table at all (not an empty one with columns "1 2 3")."""
    return PageResult(None, "", None, notes_markdown([message]), "", None)


def analyze_page(reg: Registry, text: str, model: str, cell_choice: str | None = None) -> PageResult:
    """The Read tab: answer and table for all headlines, the drawn views' numbers for the first one."""
    entry = reg.get(model)
    headlines, notes = split_headlines(text)
    if not headlines:
        return empty_page(i18n.tr("note.empty"))
    probs = entry.predictor.predict_proba(headlines)
    for i, h in enumerate(headlines):  # a non-English headline gets one note in the reader's language
        notes += [i18n.tr("note.not_english", index=i + 1)] if not_english(h) else vocabulary_notes(entry, h, i)
    if len(headlines) > reader.MAX_PATHS:
        notes.append(i18n.tr("note.paths_shown", n=reader.MAX_PATHS))
    if entry.projection_note:
        notes.append(entry.projection_note)
    first = headlines[0]
    classes = entry.ckpt.class_names
    problem = input_problem(first, entry.ckpt.vocab)  # no answer where the input rule refuses one
    label = None if problem else {c: float(p) for c, p in zip(classes, probs[0])}
    payload = reader.reader_payload(reg, headlines, model, cell_choice)
    payload["answerable"] = label is not None  # the stepper's bars follow the same rule
    steps = len(payload["tokens"])
    if payload["words"] > steps:
        notes.append(i18n.tr("reader.limit", limit=steps, words=payload["words"]))
    return PageResult(
        label=label,
        answer=answer_html(label, classes, problem_label(problem) if problem else ""),
        table=headline_table(entry, headlines, probs) if len(headlines) > 1 else None,
        notes=notes_markdown(notes),
        importance=importance_html(payload["tokens"], np.array(payload["importance"]), payload["known"][:steps]),
        payload=payload,
    )


def compare_view(reg: Registry, text: str):
    """Every model on the same headlines: bars for the first, a table for all, small-multiple paths."""
    headlines, notes = split_headlines(text)
    if not headlines:
        msg = i18n.tr("note.compare_empty")
        fig = figures.message_figure(msg)
        return fig, pd.DataFrame(), fig, notes_markdown([msg])
    classes = list(reg.class_names)
    names = lesson_order(reg.names)
    all_probs = {n: reg.get(n).predictor.predict_proba(headlines) for n in names}
    # the input rule, per headline and model (each model reads with its own vocabulary)
    problems = [{n: input_problem(h, reg.get(n).ckpt.vocab) for n in names} for h in headlines]
    for i, found in enumerate(problems):
        for code in dict.fromkeys(c for c in found.values() if c):
            notes.append(problem_note(code, i, ", ".join(n for n, c in found.items() if c == code)))
    first = next((c for c in problems[0].values() if c), None)
    if first:  # no bars that look like answers for a headline the Read tab refuses
        bars = figures.message_figure(i18n.tr("note.no_answer_figure", index=1, reason=problem_label(first)))
    else:
        bars = figures.compare_figure(names, np.stack([all_probs[n][0] for n in names]), classes)
    rows = []
    for i, h in enumerate(headlines):
        for n in names:
            p, problem = all_probs[n][i], problems[i][n]
            answer = problem_label(problem) if problem else class_label(classes[int(np.argmax(p))])
            rows.append([i + 1, h, n, answer, *(round(float(v), 4) for v in p)])
    columns = [i18n.tr(k) for k in ("card.col_index", "card.col_headline", "card.col_model", "card.col_predicted")]
    table = pd.DataFrame(rows, columns=[*columns, *map(class_label, classes)])
    shown = headlines[:COMPARE_PATHS]
    panels = []
    for n in names:
        entry = reg.get(n)
        if entry.projection is None:  # the bag: nothing to draw; said in the notes
            notes.append(i18n.tr("note.no_trajectory", model=n))
            continue
        panels += trajectory_panels(entry, shown, [reg.trace(n, h) for h in shown], compact=True)
    if len(headlines) > COMPARE_PATHS:
        notes.append(i18n.tr("note.small_multiples", n=COMPARE_PATHS))
    return bars, table, figures.small_multiples_figure(panels, classes), notes_markdown(notes)
