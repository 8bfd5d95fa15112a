"""The routes behind the page's browser drawing, under /reader/:

    /reader/plotly.js        Plotly, from the installed `plotly` package (the page draws its Read views with it)
    /reader/reader.js        web/reader.js: the drawing code the page shares with the in-browser widget
    /reader/page.js          page/static/reader_page.js: the Read tab's stepper and views
    /reader/diagrams.js      page/static/diagrams.js: the lesson's diagrams (reader_page.js imports it)
    /reader/strings-LANG.json  the diagrams' texts in one language (page/diagrams.py), fetched once
    /reader/cloud/NAME.json  a model's reference cloud and axes, fetched once per model and kept
    /widget/                 the in-browser widget, where one was built (`python -m export --web web_site`)

They are plain GET routes added to Gradio's FastAPI app (launch's app_kwargs), so no file path of
the server appears in the page. Each answers with the bytes it was built with at start-up.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .diagrams import strings_json
from .i18n import languages
from .registry import Registry
from .reader import cloud_json

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = {
    "reader.js": ROOT / "web" / "reader.js",
    "page.js": Path(__file__).resolve().parent / "static" / "reader_page.js",
    "diagrams.js": Path(__file__).resolve().parent / "static" / "diagrams.js",
}
PREFIX = "/reader"


def plotly_path() -> Path:
    import plotly

    return Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:16] + '"'


def _script(body: bytes, immutable: bool = False, media: str = "text/javascript") -> Response:
    etag = _etag(body)
    cache = "public, max-age=86400" if immutable else "no-cache"  # our own scripts: revalidated (ETag)
    return Response(body, media_type=f"{media}; charset=utf-8", headers={"ETag": etag, "Cache-Control": cache})


def routes(reg: Registry, widget_index: Path | None = None) -> list:
    """The /reader/ routes for one registry (read once: files and clouds do not change while serving),
    and /widget/ when `widget_index` (the widget build's index.html) is given."""
    plotly_js = plotly_path().read_bytes()
    scripts = {name: path.read_bytes() for name, path in SCRIPTS.items()}
    clouds = {name: json.dumps(cloud_json(reg.get(name)), separators=(",", ":")).encode() for name in reg.names}
    # the diagrams' texts, one file per language, served and revalidated like the scripts
    scripts.update({f"strings-{lang}.json": json.dumps(strings_json(lang), ensure_ascii=False).encode()
                    for lang in languages()})

    async def plotly_route(request: Request) -> Response:
        return _script(plotly_js, immutable=True)

    async def script_route(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in scripts:
            return Response("not found", status_code=404, media_type="text/plain")
        if request.headers.get("if-none-match") == _etag(scripts[name]):
            return Response(status_code=304)
        return _script(scripts[name], media="application/json" if name.endswith(".json") else "text/javascript")

    async def cloud_route(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in clouds:
            return JSONResponse({"error": f"unknown model {name[:100]!r}"}, status_code=404)
        return Response(clouds[name], media_type="application/json", headers={"Cache-Control": "public, max-age=3600"})

    out = [Route(f"{PREFIX}/plotly.js", plotly_route), Route(PREFIX + "/cloud/{name}.json", cloud_route),
           Route(PREFIX + "/{name}", script_route)]
    if widget_index is not None:
        async def widget_slash(request: Request) -> Response:  # the widget's files are relative to its folder
            return RedirectResponse(request.url.replace(path=request.url.path + "/"), status_code=308)

        out += [Route("/widget", widget_slash), Mount("/widget", StaticFiles(directory=widget_index.parent, html=True))]
    return out


def head() -> str:
    """The page head's loader: starts Plotly's download at once and keeps the page's own reference to
    it (Gradio's gr.Plot later sets window.Plotly to its own copy), then loads the Read tab's module.
    `window.rnnReader.ready` resolves to page/static/reader_page.js's exports."""
    return """<script>
(() => {
  if (/[?&]embed=1(&|$)/.test(location.search)) document.documentElement.classList.add("rnn-embed");
  // the app's own address: a <gradio-app> on another page names it, else this page's
  const host = document.querySelector("gradio-app[src]");
  const base = new URL("reader/", host ? new URL(host.getAttribute("src"), document.baseURI) : document.baseURI);
  const times = {};  // when each part arrived (ms since navigation), for bench/bench_page.py
  const plotly = new Promise((resolve, reject) => {
    const before = window.Plotly;
    const s = document.createElement("script");
    s.src = new URL("plotly.js", base).href;
    s.onload = () => { const own = window.Plotly; if (before) window.Plotly = before; times.plotly = performance.now(); resolve(own); };
    s.onerror = () => reject(new Error("reader/plotly.js could not be loaded"));
    document.head.append(s);
  });
  const ready = plotly.then((P) => import(new URL("page.js", base).href).then((m) => {
    m.init(P, base.href);
    times.ready = performance.now();
    return m;
  }));
  window.rnnReader = { ready, times, draw: (payload) => ready.then((m) => m.draw(payload)),
                       call: (name, ...args) => ready.then((m) => m[name](...args)) };
})();
</script>"""
