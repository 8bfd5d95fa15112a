"""rnn_demo: recurrent text classifiers for AG News, and the tools to look inside them."""

CLASS_NAMES = ("World", "Sports", "Business", "Sci/Tech")

__version__ = "0.1.0"
