#!/usr/bin/env python3
"""Builds the byte-level BPE fixtures of BytePairTokenizerTests.

1. Copies the tokenizer files of the tiny RoBERTa / GPT-2 reference models (no weights):
   tiny-roberta gets tokenizer.json too (the test reads its added_tokens and pre_tokenizer),
   tiny-gpt2 does not (the test exercises the fallback to tokenizer_config.json + vocab.json).
2. Extracts the token-id part of tiny-reference.json -> tiny-reference-ids.json.
3. Computes ids of tricky strings with Hugging Face `tokenizers` (fixture-time only, not a
   runtime dependency) -> bpe-reference.json: singles, truncated singles, pairs with
   longest-first truncation, add_prefix_space=True, added tokens with lstrip/rstrip/single_word,
   and the pre-tokenizer's splits of probe strings.

Usage: pip install tokenizers && python3 make_bpe_fixture.py [REFERENCE_TINY_DIR]
(default /work/shared/reference/tiny). Run from anywhere; writes next to this script.
"""
import json
import shutil
import sys
from pathlib import Path

import tokenizers
from tokenizers import Tokenizer
from tokenizers.pre_tokenizers import ByteLevel

here = Path(__file__).resolve().parent
reference = Path(sys.argv[1] if len(sys.argv) > 1 else "/work/shared/reference/tiny")

copied = {
    "tiny-roberta": ["config.json", "vocab.json", "merges.txt", "tokenizer_config.json", "tokenizer.json"],
    "tiny-gpt2": ["config.json", "vocab.json", "merges.txt", "tokenizer_config.json"],
}
for model, names in copied.items():
    (here / model).mkdir(exist_ok=True)
    for name in names:
        shutil.copyfile(reference / model / name, here / model / name)

full = json.loads((reference / "tiny-reference.json").read_text())
ids_only = {
    "source": "tiny-reference.json (Hugging Face transformers), token-id part only",
    "roberta": {key: full["roberta"][key] for key in ("texts", "input_ids", "pairs")},
    "gpt2": {key: full["gpt2"][key] for key in ("texts", "input_ids")},
}
(here / "tiny-reference-ids.json").write_text(json.dumps(ids_only, ensure_ascii=False, indent=1) + "\n")

texts = [
    "", " ", "   ", "Hello", " Hello", "Hello ", "  leading and trailing  ", "  double  spaces",
    "a    b", "\ttab", "tab\tinside", "tab\t\tdouble", "x \t y", "line\nbreak", "windows\r\nline",
    "trailing newline\n", "\n\nparagraphs\n\n", "end with space ", "naïve café", "cafe\u0301",
    "\u0301 leading combining", "Ünïcödé", "😀👍🏽", "family 👨‍👩‍👧 emoji", "don't", "I'M",
    "we're they've I'll he'd she's it's", "''s", "a'S b'Ll", "'re'm", "x!'s", "123,456.78",
    "3.14159 and ½ and ² and ⅷ", "中文分词测试", "日本語のテキスト",
    "mixed: English, Русский, العربية, हिन्दी", "ΑΒΓ αβγ", "ǅ titlecase", "ﬁ ligature",
    "e-mail: a.b@c.com", "C++ & C#!!!", "...", "$100 -- wow?!", "under_score",
    "\u00a0nbsp\u00a0", "\u3000ideographic", "\u0085nel", "\u2028ls", "zero\u200bwidth",
    "\u000bvt\u000cff", "\x1cfs\x1f", "\u2003em space", "<s> literal special </s>",
    "Hello<mask>world", "<unk>", "<pad><pad>", "x<s", "A  <mask>  b",
]
pairs_text = [
    ("The quick brown fox jumps over the lazy dog.", "I absolutely LOVED this movie -- the acting was superb!"),
    ("Hello", "The quick brown fox jumps over the lazy dog."),
    ("  Leading spaces,\ttabs and  double  spaces; émojis 🙂 too", "naïve café"),
    ("short one", "short two"),
    ("", "only second"),
]
pair_max_lengths = [4, 5, 6, 7, 8, 11, 12, 17, 24, 25, 512]
single_max_lengths = [2, 3, 5, 10, 512]


def load(model):
    return Tokenizer.from_file(str(reference / model / "tokenizer.json"))


def encode(tokenizer, text, pair=None, max_length=None):
    if max_length is None:
        tokenizer.no_truncation()
    else:
        tokenizer.enable_truncation(max_length=max_length, strategy="longest_first")
    return tokenizer.encode(text, pair).ids


def variant(model, edit):
    """A tokenizer whose tokenizer.json was changed by edit(dict); returns (tokenizer, edited json)."""
    data = json.loads((reference / model / "tokenizer.json").read_text())
    edit(data)
    return Tokenizer.from_str(json.dumps(data)), data


out = {"generator": f"tokenizers {tokenizers.__version__}, make_bpe_fixture.py"}
for model in ("roberta", "gpt2"):
    tokenizer = load(f"tiny-{model}")
    out[model] = {
        "singles": [{"text": t, "ids": encode(tokenizer, t)} for t in texts],
        "truncated": [{"text": t, "max_length": m, "ids": encode(tokenizer, t, None, m)}
                      for t, _ in pairs_text[:3] for m in single_max_lengths],
        "pairs": [{"a": a, "b": b, "max_length": m, "ids": encode(tokenizer, a, b, m)}
                  for a, b in pairs_text for m in pair_max_lengths],
    }


def prefix_space(data):
    data["pre_tokenizer"]["add_prefix_space"] = True
    data["post_processor"]["add_prefix_space"] = True


tokenizer, _ = variant("tiny-roberta", prefix_space)
out["roberta_add_prefix_space"] = [{"text": t, "ids": encode(tokenizer, t)} for t in texts]


def strip_flags(data):
    for token in data["added_tokens"]:
        if token["content"] == "<mask>":
            token["lstrip"] = True          # as in roberta-base
        if token["content"] == "<unk>":
            token["rstrip"] = True


tokenizer, edited = variant("tiny-roberta", strip_flags)
out["roberta_stripped_added_tokens"] = {
    "added_tokens": edited["added_tokens"],
    "cases": [{"text": t, "ids": encode(tokenizer, t)} for t in [
        "Hello <mask> world", "Hello  <mask>", "<mask> first", "a <unk>  b", "x <unk>\n<mask> y",
        "\t<mask>\t", "<s> <mask></s>", "A  <mask>  b",
    ]],
}


def single_word(data):
    for token in data["added_tokens"]:
        if token["content"] == "<mask>":
            token["single_word"] = True


# single_word: the match is kept only between non-word characters (regex \w: Alphabetic, marks,
# decimal digits, connector punctuation, join controls).
tokenizer, edited = variant("tiny-roberta", single_word)
out["roberta_single_word_added_token"] = {
    "added_tokens": edited["added_tokens"],
    "cases": [{"text": t, "ids": encode(tokenizer, t)} for t in [
        "a<mask>", "é<mask>", "_<mask>", "٣<mask>", "Ⅷ<mask>", " <mask> ", "<mask>x", "!<mask>!",
        "ʰ<mask>", "\u0301<mask>", "½<mask>", "\u203f<mask>", "\u200d<mask>", "<mask>\u0345",
        "\u00ad<mask>", "<mask><mask>", "a <mask><mask> b", "x<mask> <mask>",
    ]],
}

# Pre-tokenizer splits (byte-level strings) of HF's ByteLevel(use_regex=True): which scalars are
# \s (White_Space), \p{L}, \p{N}; one "!xx!" probe per whitespace candidate and one per category.
probes = [chr(c) for c in (0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1F, 0x20, 0x85, 0xA0, 0x1680, 0x180E,
                           0x2000, 0x200A, 0x200B, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000, 0xFEFF)]
probes += ["ǅ", "ʰ", "ª", "中", "Ⅷ", "½", "²", "٣", "\u0301", "\u0903", "\u20DD", "€", "^", "😀", "\u00AD",
           "\U000F0000", "\u0378", "_"]
splitter = ByteLevel(add_prefix_space=False, use_regex=True)
out["pre_tokenizer"] = [{"text": t, "pieces": [piece for piece, _ in splitter.pre_tokenize_str(t)]}
                        for t in [f"!{c}{c}!a{c}{c}a {c}1{c}" for c in probes] + texts]
(here / "bpe-reference.json").write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n")
print("wrote", here / "bpe-reference.json")
