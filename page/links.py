"""Deep links: `?model=…&text=…&tab=…&k=…&dims=…&lang=…` validated into what the page opens.

A bad value never fails the page: it becomes a note (a translation key and its values) that the
page shows in its language, as plain text (`notes_markdown`): a value from the URL is never markup.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

from .i18n import languages, tr
from .inputs import notes_markdown as plain_notes
from .tabs import TAB_NAMES

MAX_LINK_TEXT = 2000  # a link's text beyond this is cut (with a note); URLs that long are fragile anyway


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
        if tab in TAB_NAMES:
            link.tab = tab
        else:
            link.notes.append(("note.link_unknown_tab", dict(value=tab[:40], names=", ".join(TAB_NAMES))))
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


def notes_markdown(notes: Sequence[tuple[str, dict]]) -> str:
    """A link's notes in the current language as a Markdown list; each note, with the URL's value in
    it, is plain text (`inputs.plain_markdown`): `?model=![p](http://…)` shows those characters."""
    return plain_notes([tr(key, **values) for key, values in notes])
