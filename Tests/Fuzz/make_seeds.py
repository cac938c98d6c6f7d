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


for target in ["safetensors", "wordpiece", "bytepair", "paper-formats", "generic-table", "grid"]:
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

# grid: byte 0 even = a grid file (YAML or JSON), odd = a manifest.jsonl.
readme_grid = """# grid.yaml
tasks: [sentiment-ood]          # or {name: rte, format: rte, train: ..., test: ...}
methods: [lp, ft, lp-ft, lora, lp-lora]
seeds: [1001, 2002, 3003]
parameters: {epochs: 10, batch-size: 16, lr: [1e-5, 5e-5]}
overrides:
  lora: {lr: [5e-4, 1e-3]}
  lp-lora: {lr: [5e-4, 1e-3]}
  lp: {lr: null, epochs: null}  # null removes a parameter
"""
write("grid", "readme.yaml", b"\x00" + readme_grid.encode())
write("grid", "tasks.yaml", b"\x00" + b"""name: demo
tasks: [sentiment-ood, {name: tiny, train: t.csv, test: s.csv, ood: [a=a.csv, b=b.csv]}]
methods: [lp, ft, lora]
seeds: [1001, 2002]
parameters:
  epochs: 3
  lr: [1e-5, 5e-5]
  head-scale: 100.0
overrides:
  lora: {lr: [5e-4, 1e-3, 2e-3]}
  lp: {lr: null, epochs: null}
""")
write("grid", "tasks.json", b"\x00" + json.dumps({
    "seeds": [1001, 2002], "methods": ["lp", "ft", "lora"],
    "overrides": {"lp": {"epochs": None, "lr": None}, "lora": {"lr": [0.0005, "1e-3", 0.002]}},
    "parameters": {"head-scale": 100, "lr": ["1e-5", 5e-05], "epochs": 3.0},
    "tasks": ["sentiment-ood", {"ood": ["a=a.csv", "b=b.csv"], "test": "s.csv", "train": "t.csv", "name": "tiny"}]}).encode())
write("grid", "sweep-test.yaml", b"\x00" + b"""tasks:
  - {name: tiny, train: /tmp/d/train.csv, validation: /tmp/d/validation.csv, test: /tmp/d/test.csv}
methods: [lp, ft, lp-ft]
seeds: [5]
parameters:
  model: /tmp/model
  epochs: 2
  batch-size: 8
  lr: 1e-3
  fp16: [true, false]
overrides:
  lp: {epochs: null, lr: null}
""")
write("grid", "anchors-tags.yaml", b"\x00" + b"""%YAML 1.1
---
tasks:
  - &t {name: "rte", format: rte, train: 'a b.tsv', test: b.tsv, text-pair-column: hypothesis}
  - {name: cb, task: cb}
methods: [!!str lp-lora, lora]
seeds: [!!int 7, 0x10, 1_000]
parameters: &p
  lr: [.inf, -.5, 1e16, "0012"]
  warmup-ratio: 0.1
overrides: {lora: *p, lp-lora: {max-train: [10, 20], warmup-ratio: ~}}
...
""")
for name, text in [("bad-unterminated.yaml", "tasks: [a\nmethods: [ft]"), ("bad-list.yaml", "- 1\n- 2\n"),
                   ("bad-method.yaml", "tasks: [sentiment-ood]\nmethods: [ft, fine-tune]\nseeds: [1]\n"),
                   ("bad-reserved.json", '{"tasks": ["x"], "methods": ["ft"], "seeds": [1], "parameters": {"out": "x", "--lr": 1}}')]:
    write("grid", name, b"\x00" + text.encode())
write("grid", "crlf.yaml", b"\x00" + readme_grid.replace("\n", "\r\n").encode())
write("grid", "bad-deep.yaml", b"\x00tasks: " + b"[" * 500 + b"\nmethods:\n" + b"".join(b" " * i + b"- - [\n" for i in range(70)))
write("grid", "bad-utf8.yaml", b"\x00tasks: [caf\xe9]\nmethods: [ft]\nseeds: [1]\n")


def run_record(task, method, seed, parameters, task_flags):
    """A manifest line as `sweep plan` writes it (SweepRun: id = readable prefix + FNV-1a 64 of
    the canonical JSON arguments, first 10 hex digits; keys sorted, compact)."""
    arguments = []
    for flag in sorted(task_flags):
        arguments += [f"--{flag}", task_flags[flag]]
    arguments += ["--method", method, "--seed", str(seed)]
    for flag in sorted(parameters):
        arguments += [f"--{flag}", str(parameters[flag])]
    canonical = "[" + ",".join(json.dumps(a, ensure_ascii=False) for a in arguments) + "]"
    h = 0xCBF29CE484222325
    for byte in canonical.encode():
        h = ((h ^ byte) * 0x100000001B3) % (1 << 64)
    record = {"arguments": arguments, "id": f"{task}-{method}-s{seed}-{h:016x}"[:len(f"{task}-{method}-s{seed}-") + 10],
              "method": method, "parameters": parameters, "seed": seed, "task": task}
    return json.dumps(record, sort_keys=True, separators=(",", ":"))


manifest = [run_record("sentiment-ood", "lp", 1001, {}, {"task": "sentiment-ood"}),
            run_record("sentiment-ood", "ft", 1001, {"epochs": 10, "lr": 1e-05}, {"task": "sentiment-ood"}),
            run_record("tiny", "lora", 2002, {"head-scale": 100, "lr": 0.0005}, {"train": "t.csv", "test": "s.csv"})]
write("grid", "manifest.jsonl", b"\x01" + ("\n".join(manifest) + "\n").encode())
write("grid", "manifest-blank-lines.jsonl", b"\x01" + ("\n\n" + manifest[0] + "\n   \n").encode())
write("grid", "bad-manifest-repeat.jsonl", b"\x01" + ("\n".join([manifest[1], manifest[1]]) + "\n").encode())
write("grid", "bad-manifest-record.jsonl", b"\x01" + (manifest[0] + '\n{"id": 1}\n').encode())
write("grid", "bad-manifest-id.jsonl", b"\x01" + manifest[0].replace('"id":"sentiment-ood', '"id":"../../sentiment-ood').encode())

