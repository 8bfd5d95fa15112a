"""The Gradio page: the loaded models, the input rule, what each tab shows, figures, translations,
the tab table and the server settings. `app.py` builds the page from these parts and launches it.

The page imports the library (`rnn_demo`) and never `export/`: where onnxruntime serves the
answers, app.py hands the registry a predictor factory from `export.runtime`.
"""
