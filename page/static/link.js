// "Link to this view": built in the browser from what is on screen (no server round trip).
// __TABS__ is page/tabs.py's table {tab: the text its links carry}, filled in by page/settings.py.
(model, text, packingText, k, lang, tab, dims) => {
  const tabs = __TABS__;
  // the app's own address: a <gradio-app> on another page names it; else Gradio's config; else this page
  const host = document.querySelector('gradio-app[src]');
  const root = (host && host.getAttribute('src')) || (window.gradio_config && window.gradio_config.root) ||
    (location.origin + location.pathname);
  const p = new URLSearchParams();
  p.set('model', model);
  const own = tabs[tab] === 'packing';
  const shown = own ? packingText : text;
  if (shown) p.set('text', shown);
  p.set('tab', tab || 'read');
  if (own) p.set('k', String(k));
  if (dims === '3-D') p.set('dims', '3');
  const step = window.rnnReaderStep;  // the word stepper's word (page/static/reader_page.js), 1-based in links
  if ((tab || 'read') === 'read' && Number.isInteger(step)) p.set('step', String(step + 1));
  p.set('lang', lang || 'en');
  if (/[?&]embed=1(&|$)/.test(location.search)) p.set('embed', '1');  // a compact view stays compact
  return root.replace(/\/$/, '') + '/?' + p.toString();
}
