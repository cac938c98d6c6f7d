#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets (Tests/Fuzz/corpus/TARGET/) from hand-made inputs
and the small test fixtures. Run from the repository root: python3 Tests/Fuzz/make_seeds.py.
Input layouts are described in Tests/Fuzz/Targets/*.swift (byte 0 = mode, 0x00 separates files)."""
import json
import os
import shutil
import struct

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
corpus = os.path.join(root, "Tests", "Fuzz", "corpus")
fixtures = os.path.join(root, "Tests", "ModelTests", "Fixtures")


def write(target, name, data):
    folder = os.path.join(corpus, target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode("utf-8"))


def fixture(*parts):
    with open(os.path.join(fixtures, *parts), "rb") as f:
        return f.read()


def safetensors(tensors, metadata=None):
    """tensors: [(name, dtype, shape, raw bytes)] laid out in order."""
    header, data = {}, b""
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    if metadata is not None:
        header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


for target in ["safetensors", "wordpiece", "bytepair", "paper-formats", "generic-table"]:
    shutil.rmtree(os.path.join(corpus, target), ignore_errors=True)

# safetensors: one file per dtype family, metadata, a scalar, an empty tensor, two bad headers.
write("safetensors", "f32-f64", safetensors([
    ("a", "F32", [2, 2], struct.pack("<4f", 1, -2, 3.5, 0)),
    ("b", "F64", [3], struct.pack("<3d", 1e-3, 2, -7)),
], {"format": "pt"}))
write("safetensors", "half", safetensors([
    ("h", "F16", [2], struct.pack("<2H", 0x3C00, 0xC000)),
    ("bf", "BF16", [1, 2], struct.pack("<2H", 0x3F80, 0x7F80)),
]))
write("safetensors", "ints", safetensors([
    ("i64", "I64", [2], struct.pack("<2q", -5, 1 << 40)),
    ("i32", "I32", [], struct.pack("<i", 7)),
    ("u64", "U64", [1], struct.pack("<Q", 1 << 63)),
    ("u8", "U8", [3], bytes([0, 1, 255])),
    ("flag", "BOOL", [2], bytes([0, 1])),
    ("empty", "F32", [0, 4], b""),
]))
overlap = json.dumps({"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                      "y": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}).encode()
write("safetensors", "bad-overlap", struct.pack("<Q", len(overlap)) + overlap + struct.pack("<2f", 1, 2))
write("safetensors", "bad-json", struct.pack("<Q", 6) + b'{"a":1')

# wordpiece: mode 0 = text [0x00 pair] with the MiniLM vocabulary; mode 1 = vocab.txt [0x00 config].
for index, (text, pair) in enumerate([
    ("Hello, world! Don't stop.", None),
    ("Café naïve résumé — 東京タワー in 2024", "a second sentence [SEP] [MASK]"),
    ("unaffable UNBELIEVABLE\tx\u00a0y\u200bz", None),
    ("[CLS] emoji \U0001F600 and  control \x07 chars", "short"),
]):
    write("wordpiece", f"text-{index}", bytes([0, 128]) + text.encode() + (b"\x00" + pair.encode() if pair else b""))
small_vocab = "\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", ",", "!", "w", "##or", "##ld",
                         "a", "##b", "c", "un", "##aff", "##able", "東", "京"]) + "\n"
write("wordpiece", "vocab", bytes([1, 20]) + small_vocab.encode())
write("wordpiece", "vocab-config", bytes([1, 9]) + small_vocab.encode() + b"\x00"
      + json.dumps({"do_lower_case": False, "strip_accents": True, "unk_token": "[UNK]"}).encode())

# bytepair: mode 0 = text [0x00 pair] with tiny-roberta; mode 1 = config 0x00 vocab 0x00 merges
# [0x00 tokenizer.json [0x00 tokenizer_config.json]].
for index, (text, pair) in enumerate([
    ("Hello world, it's a test.", None),
    (" <s>leading space and <mask> token</s>", "pair  with   spaces\n\nnewlines"),
    ("ünïcödé 東京 \U0001F600 numbers 12345 and 'll 've", None),
]):
    write("bytepair", f"text-{index}", bytes([0, 30]) + text.encode() + (b"\x00" + pair.encode() if pair else b""))
bytes_vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "<mask>": 4}
for character in ["h", "e", "l", "o", "Ġ", "w", "r", "d", "he", "ll", "hell", "hello", "Ġw", "or", "Ġwor"]:
    bytes_vocab.setdefault(character, len(bytes_vocab))
merges = "#version: 0.2\nh e\nl l\nhe ll\nhell o\nĠ w\no r\nĠw or\n"
roberta_config = {"model_type": "roberta", "pad_token_id": 1}
write("bytepair", "model-roberta", bytes([1, 12]) + b"\x00".join([
    json.dumps(roberta_config).encode(), json.dumps(bytes_vocab, ensure_ascii=False).encode(), merges.encode()]))
pipeline = {"added_tokens": [{"id": 4, "content": "<mask>", "lstrip": True, "rstrip": False, "single_word": False}],
            "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": True, "use_regex": True},
            "post_processor": {"type": "RobertaProcessing", "cls": ["<s>", 0], "sep": ["</s>", 2]}}
write("bytepair", "model-roberta-pipeline", bytes([1, 40]) + b"\x00".join([
    json.dumps(roberta_config).encode(), json.dumps(bytes_vocab, ensure_ascii=False).encode(), merges.encode(),
    json.dumps(pipeline).encode(), json.dumps({"add_prefix_space": False, "pad_token": "<pad>"}).encode()]))
write("bytepair", "model-gpt2", bytes([1, 5]) + b"\x00".join([
    json.dumps({"model_type": "gpt2", "eos_token_id": 2}).encode(),
    json.dumps(bytes_vocab, ensure_ascii=False).encode(), merges.encode()]))

# paper-formats: byte 0 = index into PaperFormat.allCases (cb rte boolq wic sst2 mrpc cola boss pubmed).
formats = ["cb", "rte", "boolq", "wic", "sst2", "mrpc", "cola", "boss", "pubmed"]
for name, path in [("cb", "superglue/cb.jsonl"), ("rte", "superglue/rte.jsonl"), ("boolq", "superglue/boolq.jsonl"),
                   ("wic", "superglue/wic.jsonl"), ("sst2", "glue/sst2.tsv"), ("mrpc", "glue/mrpc.tsv"),
                   ("cola", "glue/cola.tsv"), ("boss", "boss/amazon_train.tsv"), ("pubmed", "pubmed/train.txt"),
                   ("boss", "boss/semeval_test.tsv"), ("cola", "bad/cola_short.tsv"), ("pubmed", "bad/pubmed_orphan.txt"),
                   ("cb", "bad/cb_unknown.jsonl"), ("sst2", "bad/invalid_utf8.tsv")]:
    write("paper-formats", os.path.basename(path), bytes([formats.index(name)]) + fixture("data", path))

# generic-table: byte 0 % 3 = csv, tsv, jsonl; bit 2 reads a "pair" column.
for mode, path in [(0, "generic/train.csv"), (1, "generic/validation.tsv"), (2, "generic/test.jsonl"),
                   (2, "generic/numbers.jsonl"), (2, "generic/bools.jsonl"), (0, "bad/unterminated.csv"),
                   (0, "bad/after_quote.csv"), (1, "bad/fields.tsv")]:
    data = fixture("data", path).replace(b"review", b"text")
    write("generic-table", os.path.basename(path), bytes([mode]) + data)
write("generic-table", "pairs.csv", bytes([4]) + b'text,pair,label\n"A man, a plan.",A canal.,yes\nCats.,"Dogs, loudly.",no\n')
write("generic-table", "pairs.jsonl", bytes([6]) + b'{"text": "a", "pair": "b", "label": 1}\n{"text": "c", "pair": "d", "label": 2}\n')
