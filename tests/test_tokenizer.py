import json

import pytest

from rnn_demo.tokenizer import PAD_ID, UNK_ID, Vocab, VocabError, basic_english

from rnn_demo.fast_tokenizer import encode_batch


@pytest.mark.parametrize("text, expected", [
    ("Hello World", ["hello", "world"]),
    # apostrophe becomes its own token (torchtext pads it with spaces)
    ("Don't stop", ["don", "'", "t", "stop"]),
    ("it's", ["it", "'", "s"]),
    # double quotes vanish
    ('He said "hi"', ["he", "said", "hi"]),
    # periods are split off, also inside abbreviations
    ("U.S. troops.", ["u", ".", "s", ".", "troops", "."]),
    ("3.5", ["3", ".", "5"]),
    # <br /> becomes a space
    ("one<br />two", ["one", "two"]),
    ("one<BR />two", ["one", "two"]),
    # commas and parentheses become tokens
    ("3,000 (AP)", ["3", ",", "000", "(", "ap", ")"]),
    # ! and ? become tokens, ; and : become spaces
    ("Wow!? a;b:c", ["wow", "!", "?", "a", "b", "c"]),
    # HTML remnants and backslashes of AG News are kept as they are, apart from ';'
    ("Turner #39;s \\band", ["turner", "#39", "s", "\\band"]),
    ("tabs\tand\nnewlines   ", ["tabs", "and", "newlines"]),
    ("", []),
    ("   ", []),
    ("Café-Bar's NEW", ["café-bar", "'", "s", "new"]),
])
def test_basic_english_matches_torchtext_rules(text, expected):
    assert basic_english(text) == expected


def test_vocab_build_orders_by_frequency_and_cuts():
    vocab = Vocab.build(["b a a", "c a b", "d"], min_freq=2)
    assert vocab.tokens == ("<pad>", "<unk>", "a", "b")
    assert vocab.lookup("<pad>") == PAD_ID and vocab.lookup("zzz") == UNK_ID
    assert vocab.encode("A c b") == [2, UNK_ID, 3]
    assert PAD_ID != UNK_ID


def test_vocab_round_trip(tmp_path):
    vocab = Vocab.build(["x y z", "x y", "x"], min_freq=1)
    vocab.save(tmp_path / "tok.json")
    assert Vocab.load(tmp_path / "tok.json") == vocab


def test_vocab_load_errors_name_the_file(tmp_path):
    with pytest.raises(VocabError, match="missing"):
        Vocab.load(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "rnn_demo.vocab/1", "tok')
    with pytest.raises(VocabError, match="bad.json.*truncated"):
        Vocab.load(bad)
    bad.write_text(json.dumps({"format": "rnn_demo.vocab/1", "pad_id": 0, "unk_id": 1, "tokens": ["a", "b"]}))
    with pytest.raises(VocabError, match="must start with"):
        Vocab.load(bad)


def test_encode_batch_pads_right_and_never_returns_empty():
    vocab = Vocab.build(["a b c"], min_freq=1)
    tokens, lengths = encode_batch(vocab, ["a b c", "b", "  "], max_len=2)
    assert lengths.tolist() == [2, 1, 1]
    assert tokens.tolist() == [[vocab.lookup("a"), vocab.lookup("b")], [vocab.lookup("b"), PAD_ID], [UNK_ID, PAD_ID]]
