#!/usr/bin/env python3
"""Writes minilm-tokenization-extra.json: unusual-text and pair-truncation cases for
WordPieceTokenizerTests, tokenized by Hugging Face `tokenizers` (the Rust BertTokenizerFast that
AutoTokenizer returns for all-MiniLM-L6-v2), built from the model's vocab.txt.

Generation only (never at test or run time):
    python3 -m venv /tmp/tokvenv && /tmp/tokvenv/bin/pip install tokenizers==0.23.3
    /tmp/tokvenv/bin/python make_fixture.py ../../../../assets/models/all-MiniLM-L6-v2/vocab.txt

Each entry: text, optional pair, max_length, input_ids, token_type_ids and, for single texts,
tokens (the word pieces without special tokens, as `tokenize` returns them).
"""
import json
import sys
from pathlib import Path

import tokenizers
from tokenizers import BertWordPieceTokenizer

UNUSUAL_TEXTS = [
    "",
    "   \t\n  ",
    "I love it 😍🔥!! 👍🏽 family: 👨‍👩‍👧",
    "tabs\tand\nnew\r\nlines\rhere",
    "no\u00a0break\u2003em\u3000ideographic\u202fnarrow\u2009thin space",
    "line\u2028separator\u2029paragraph\u0085next",
    "zero\u200bwidth\ufeffbom soft\u00adhyphen joiner\u200djoin",
    "nul\u0000char replacement\ufffdchar bell\u0007ring escape\u001b[0m",
    "private\ue000use and unassigned\U000e0001tag",
    "مرحبا بالعالم، كيف حالك؟",
    "e\u0301cole Ångström Tiếng Việt crème brûlée",
    "ΟΔΟΣ ΣΟΦΟΣ σοφός",
    "İstanbul ISTANBUL ı",
    "Straße STRASSE \u1e9e",
    "Привет, мир! Ёлка",
    "नमस्ते दुनिया",
    "สวัสดีชาวโลก",
    "안녕하세요 세계",
    "ガギグゲゴ カタカナ ひらがな",
    "漢字と仮名 中文字符 𠀀𠀁 \uf900\uf901 \u2f00 \u3400",
    "ＡＢＣ１２３ ｆｕｌｌｗｉｄｔｈ！",
    "hello [SEP] world [MASK] [mask] a[CLS]b [UNK] [PAD]",
    "¿Qué? ¡Sí! «quotes» “smart” ‘single’ — dash – en… ellipsis · middle",
    "$100 + 5% = ^_^ ~`| <tag> {brace} € © ° ± × ÷ §",
    "3.14159 1,000,000 2024-01-31 12:30pm",
    "don't U.S.A. e-mail #hashtag @user http://example.com/path?q=1&r=2",
    "a" * 100,
    "b" * 101,
    "x" + "é" * 99,
    "x" + "é" * 100,
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "☃☃☃ snowman ᚠᚢᚦ runes",
    "unbelievably overpriced",
    "MiXeD CaSe WoRdS",
]

LONG_TEXT = " ".join(["the quick brown fox jumps over the lazy dog"] * 30)


def words(count):
    """A text of `count` single-piece words (each one token in the uncased vocabulary)."""
    vocabulary = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]
    return " ".join(vocabulary[i % len(vocabulary)] for i in range(count))


def main():
    vocab_path = Path(sys.argv[1])
    tokenizer = BertWordPieceTokenizer(str(vocab_path), lowercase=True)
    entries = []

    def add(text, pair, max_length, with_tokens):
        tokenizer.enable_truncation(max_length=max_length, strategy="longest_first")
        encoding = tokenizer.encode(text, pair)
        entry = {"text": text}
        if pair is not None:
            entry["pair"] = pair
        entry["max_length"] = max_length
        entry["input_ids"] = encoding.ids
        entry["token_type_ids"] = encoding.type_ids
        if with_tokens:
            tokenizer.no_truncation()
            entry["tokens"] = tokenizer.encode(text, add_special_tokens=False).tokens
        entries.append(entry)

    for text in UNUSUAL_TEXTS:
        add(text, None, 512, True)
    add(LONG_TEXT, None, 128, False)
    add("one two three", None, 2, False)
    add("one two three", None, 3, False)
    add("Some text", "", 128, False)
    add("", "Some text", 128, False)
    # Pair truncation grid: lengths 0…7 tokens each, budgets from the 3 special tokens upwards.
    for first in (0, 1, 3, 4, 7):
        for second in (0, 1, 3, 4, 7):
            for max_length in (3, 4, 5, 6, 8, 11):
                add(words(first), words(second).upper(), max_length, False)

    output = Path(__file__).with_name("minilm-tokenization-extra.json")
    lines = ",\n".join(json.dumps(entry, ensure_ascii=True) for entry in entries)
    output.write_text("[\n" + lines + "\n]\n")
    print(f"wrote {len(entries)} entries with tokenizers {tokenizers.__version__} to {output}")


if __name__ == "__main__":
    main()
