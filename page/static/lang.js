// A classic <script> for the page head. Gradio's frontend picks its language from
// navigator.language once, before a `head=` script runs, and has no URL override; it does export
// `changeLocale` from its core module. So when the URL says ?lang=xx, this finds that module among
// the loaded resources (its file name carries a build hash), imports the same instance and
// switches the language. A browser test opens ?lang=ko and fails if a Gradio update breaks this.
// __LANGS__ is filled in by page/i18n.py with the codes that have a locale file.
(function () {
  var m = /[?&]lang=([A-Za-z]{2,3})(?:[-&#]|$)/.exec(window.location.search);
  if (!m) return;
  var lang = m[1].toLowerCase(), known = __LANGS__;
  if (known.indexOf(lang) < 0) return;
  document.documentElement.lang = lang;
  function apply(tries) {
    var core = performance.getEntriesByType('resource').map(function (r) { return r.name; })
      .filter(function (n) { return /\/assets\/core-[^\/]*\.js$/.test(n); });
    if (!core.length) { if (tries > 0) setTimeout(function () { apply(tries - 1); }, 50); return; }
    import(core[0]).then(function (mod) {
      if (typeof mod.changeLocale === 'function') { mod.changeLocale(lang); window.__rnnDemoLang = lang; }
    });
  }
  apply(200);
})();
