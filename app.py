"""Minimal placeholder page; the full interactive lesson replaces it."""
import gradio as gr

with gr.Blocks(title="rnn_demo") as demo:
    gr.Markdown("# rnn_demo\nRecurrent networks reading AG News headlines.")

if __name__ == "__main__":
    demo.launch(server_name="127.0.0.1")
