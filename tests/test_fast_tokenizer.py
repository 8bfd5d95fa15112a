"""The fast tokenizer path equals basic_english + Vocab.encode token for token, on every input class."""
from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from rnn_demo.fast_tokenizer import FastEncoder, fast_encoder, split_many
from rnn_demo.tokenizer import PAD_ID, UNK_ID, Vocab, basic_english
from rnn_demo.fast_tokenizer import encode_batch_np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "ag_news"
VOCAB_FILE = ROOT / "checkpoints" / "lesson-rnn" / "tokenizer.json"

ADVERSARIAL = [
    "", " ", "\t\n\r\n", "plain words", "Don't stop", "it's 'quoted' ''", 'He said "hi" ""', '"""',
    "U.S. troops... 3.5", "one<br />two", "one<BR />two", "<br/>x", '<br" />x', "<br '/>x", "<br  />",
    "<b<br />r />", "a,b(c)d!e?f;g:h", "Turner #39;s \\band quot;x", "tabs\tand\nnewlines\r\n  ",
    "\x0bvt\x0cff\x1cfs\x1dgs\x1ers\x1fus\x85nel", "nbsp\xa0here\u2007figure\u202fnarrow\u3000ideo",
    "zero\u200bwidth\u2060joiner\ufeffbom", "line\u2028sep\u2029para", "ogham\u1680space\u180emongol",
    "emoji 😀👍🏽 family 👨\u200d👩\u200d👧 flags 🇺🇸", "CJK 中文新闻：股市上涨。日本語のニュース！한국어 뉴스?",
    "RTL \u05e9\u05dc\u05d5\u05dd, \u0645\u0631\u062d\u0628\u0627! \u200fmark\u200e", "\u202eoverride\u202c",
    "control \x00nul \x01\x02\x07bel \x1b[31mansi\x1b[0m \x7fdel \x9fc1",
    "__proto__ constructor toString hasOwnProperty <pad> <unk> <PAD>", "<script>alert(1)</script>",
    "İstanbul ΣΑΣ ΟΔΥΣΣΕΥΣ Σ. Σ' σ ß ẞ ǅ Ω K Å ﬁ ŉ", "ΣΑΣ'ΣΑΣ ΑΣ\u0301Β",
    "full\uff0cwidth\uff08punct\uff09\uff01 ’curly’ “quotes” ‘a’ `tick` ´acute´", "combining e\u0301 a\u0308",
    "lone \ud800 surrogate \udfff", "a" * 500, "word " * 300, "🙂" * 50, ". , ( ) ! ? ; :",
]


@pytest.fixture(scope="module")
def vocab() -> Vocab:
    if VOCAB_FILE.is_file():
        return Vocab.load(VOCAB_FILE)
    return Vocab.build(ADVERSARIAL, min_freq=1)


def _split_per_text(flat: list[str]) -> list[list[str]]:
    texts, current = [], []
    for token in flat:
        if token == "\x00":
            texts.append(current)
            current = []
        else:
            current.append(token)
    assert not current, "every text ends with the separator"
    return texts


def _assert_same(vocab: Vocab, texts: list[str], max_len: int | None = None) -> None:
    expected = [vocab.encode(t) for t in texts]
    expected = [(x[:max_len] if max_len else x) or [UNK_ID] for x in expected]
    got = FastEncoder(vocab).encode(texts, max_len).tolist()
    for text, e, g in zip(texts, expected, got):
        assert g == e, f"ids differ for {text!r}"
    assert len(got) == len(expected)


def test_adversarial_strings_token_for_token(vocab):
    clean = [t for t in ADVERSARIAL if "\x00" not in t]
    flat = split_many(clean)
    assert flat is not None
    assert _split_per_text(flat) == [basic_english(t) for t in clean]
    _assert_same(vocab, ADVERSARIAL)        # with a NUL text: the guarded per-text path
    _assert_same(vocab, clean)              # without: the joined path
    _assert_same(vocab, clean, max_len=3)   # truncation


def test_vocabulary_words_and_reserved_tokens_map_like_vocab_encode(vocab):
    words = list(vocab.tokens[:50]) + list(vocab.tokens[-50:])
    texts = [" ".join(words), "<pad> <unk> x", "\x00".join(words[:3])]
    _assert_same(vocab, texts)
    ids = fast_encoder(vocab).encode([" ".join(vocab.tokens[2:200])]).tolist()[0]
    assert ids == list(range(2, min(200, len(vocab))))


@pytest.mark.parametrize("context", ["Σ{c}a{c}", " {c}A{c}.<br />{c}' "])
def test_every_code_point(context):
    """Each of the 1,114,112 code points between letters, after a capital sigma, next to rules."""
    chars = [chr(c) for c in range(sys.maxunicode + 1)]
    texts = ["".join(context.format(c=c) for c in chars[i: i + 16]) for i in range(0, len(chars), 16)]
    nul = [t for t in texts if "\x00" in t]
    assert len(nul) == 1  # the block with U+0000 takes the per-text path
    texts = [t for t in texts if "\x00" not in t]
    flat = split_many(texts)
    assert flat is not None
    got = _split_per_text(flat)
    for text, tokens in zip(texts, got):
        assert tokens == basic_english(text), f"tokens differ for {text!r}"


def test_whitespace_sets_agree():
    """re's \\s (the rule basic_english applies) and str.split() use the same whitespace."""
    import re

    space = re.compile(r"\s")
    for c in range(sys.maxunicode + 1):
        ch = chr(c)
        assert bool(space.match(ch)) == ch.isspace() == (len(f"a{ch}b".split()) == 2), hex(c)


def test_batches_pad_and_truncate_like_encode_batch_np(vocab):
    texts = ["a b c d e", "", "x", ";;", "one two three"] * 3
    encoded = FastEncoder(vocab).encode(texts, max_len=4)
    rows = np.array([4, 1, 0, 13])
    tokens, lengths = encoded.batch(rows)
    assert tokens.dtype == np.int64 and lengths.dtype == np.int64
    assert lengths.tolist() == [3, 1, 4, 1]
    assert tokens.shape == (4, 4)
    for r, row in enumerate(rows):
        expected = (vocab.encode(texts[row])[:4] or [UNK_ID])
        assert tokens[r, : lengths[r]].tolist() == expected
        assert (tokens[r, lengths[r]:] == PAD_ID).all()
    blocks = FastEncoder(vocab).encode(texts, max_len=4, block=4)  # several blocks, merged
    assert blocks.tolist() == encoded.tolist() and blocks.batch(rows)[0].tolist() == tokens.tolist()
    full_tokens, full_lengths = encode_batch_np(vocab, texts, 4)
    assert full_tokens.shape == (len(texts), 4) and full_lengths.tolist() == encoded.lengths.tolist()
    empty_tokens, empty_lengths = encode_batch_np(vocab, [])
    assert empty_tokens.shape == (0, 0) and empty_lengths.shape == (0,)
    with pytest.raises(ValueError, match="max_len"):
        FastEncoder(vocab).encode(["x"], max_len=-1)


def _data_texts() -> list[str]:
    texts = []
    with open(DATA / "test.csv", newline="", encoding="utf-8") as fh:
        for _, title, description in csv.reader(fh):
            texts += [f"{title} {description}", title, description]
    with open(DATA / "train_hf.jsonl", encoding="utf-8") as fh:
        texts += [json.loads(line)["text"] for line in fh]
    return texts


@pytest.mark.skipif(not (DATA / "test.csv").is_file() or not (DATA / "train_hf.jsonl").is_file(),
                    reason="AG News files not in ../shared/data/ag_news")
def test_every_row_of_test_csv_and_train_hf(vocab):
    texts = _data_texts()
    assert len(texts) == 3 * 7600 + 34060
    expected_tokens = [basic_english(t) for t in texts]
    assert _split_per_text(split_many(texts)) == expected_tokens
    expected = [[vocab.lookup(w) for w in tokens] or [UNK_ID] for tokens in expected_tokens]
    assert FastEncoder(vocab).encode(texts).tolist() == expected
    assert FastEncoder(vocab).encode(texts, max_len=20).tolist() == [x[:20] for x in expected]


def test_literal_rules_are_basic_englishs_rules():
    """The fast path's literals are tokenizer.py's regex rules unescaped, in the same order."""
    import re

    from rnn_demo import fast_tokenizer, tokenizer

    rules = tokenizer._BASIC_ENGLISH_RULES
    assert rules[-1][0].pattern == r"\s+" and rules[-1][1] == " "  # done by str.split()
    unescaped = [(re.sub(r"\\(.)", r"\1", p.pattern), r) for p, r in rules[:-1]]
    for (literal, _), (pattern, _) in zip(unescaped, rules):
        # only backslash-escaped punctuation: the regex matches exactly this one string
        unescaped_chars = re.sub(r"\\.", "", pattern.pattern)
        assert not set(unescaped_chars) & set(".^$*+?{}[]|()\\"), pattern
        assert not re.search(r"\\[A-Za-z0-9]", pattern.pattern) and pattern.fullmatch(literal), pattern
    assert tuple(unescaped) == fast_tokenizer._LITERAL_RULES
