"""The tab table: one row per tab of the page, in the order they are shown.

It drives everything that names tabs: their creation and titles (`view.NAME` in the locale files),
the element ids, the select handlers, deep links (`?tab=NAME`) and the "link to this view" control.
"""
from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class Tab:
    name: str  # ?tab=NAME; the title is the translation of view.NAME
    text: str = "headlines"  # the text a link to this tab carries: the page's "headlines" or the tab's own "packing"
    on_select: bool = False  # computed when the learner selects the tab, so it never opens empty
    on_open: bool = False  # computed when a deep link opens the page on it (a programmatic change fires no select)

    @property
    def elem_id(self) -> str:
        return f"{self.name}-tab"

    @property
    def title_key(self) -> str:
        return f"view.{self.name}"


TABS = (
    Tab("read"),
    Tab("compare", on_select=True, on_open=True),
    Tab("card"),
    Tab("packing", text="packing"),
    Tab("order", on_select=True, on_open=True),
    Tab("memory", on_select=True, on_open=True),
    Tab("api"),
)
TAB_NAMES = tuple(t.name for t in TABS)
BY_NAME = {t.name: t for t in TABS}


def link_table() -> str:
    """{tab: the text its links carry} as JSON, for the link control's script (static/link.js)."""
    return json.dumps({t.name: t.text for t in TABS})
