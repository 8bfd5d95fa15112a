// Drop the widget into a lesson page with one tag, placed where the widget should appear:
//   <script src="https://example.org/rnn-widget/embed.js" data-model="bilstm" data-lang="ko"
//           data-text="Striker scores twice in stoppage time"></script>
// It inserts an <iframe> of the widget folder (the folder this script is served from) right after
// itself and keeps the frame as tall as the widget (the widget posts its height).
(() => {
  const script = document.currentScript;
  if (!script) return;
  const base = new URL(".", script.src);
  const params = new URLSearchParams();
  for (const key of ["model", "lang", "text"]) {
    const value = script.dataset[key];
    if (value) params.set(key, value);
  }
  const frame = document.createElement("iframe");
  frame.src = new URL(`index.html?${params}`, base).href;
  frame.title = script.dataset.title || "Recurrent network lesson widget";
  frame.loading = "lazy";
  frame.style.cssText = "width:100%;border:0;min-height:900px;display:block";
  script.after(frame);
  window.addEventListener("message", (event) => {
    if (event.source !== frame.contentWindow || event.origin !== base.origin) return;
    const data = event.data;
    if (data && data.type === "rnn-demo-widget:height" && Number.isFinite(data.height)) {
      frame.style.minHeight = "0";
      frame.style.height = `${Math.ceil(data.height)}px`;
    }
  });
})();
