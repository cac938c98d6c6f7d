#!/usr/bin/env python3
"""Writes small end-to-end fixtures for scripts/asan.sh (no third-party packages):
  DIR/tiny-bert/   a 2-layer BERT (hidden 16, 2 heads) with random weights: config.json, vocab.txt,
                   model.safetensors (float32, standard Hugging Face names)
  DIR/data/        train.csv, validation.csv, test.csv (text,label with neg/pos), pairs.csv
                   (text,text_pair,label), texts.txt, examples.jsonl (ntk --examples)
Usage: python3 scripts/make-tiny-fixtures.py DIR"""
import json, os, random, struct, sys

out = sys.argv[1]
rng = random.Random(7)
positive = ["good", "great", "fine", "nice", "love", "best", "happy", "excellent"]
negative = ["bad", "awful", "poor", "hate", "worst", "sad", "terrible", "boring"]
filler = ["the", "movie", "film", "was", "is", "a", "very", "it", "plot", "acting", "and", "story"]
letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
vocab = (["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + positive + negative + filler + letters
         + ["##" + c for c in letters] + [str(d) for d in range(10)] + [".", ",", "!", "?", "'", "-"])
hidden, layers, heads, intermediate, positions = 16, 2, 2, 32, 130


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, shape, values in tensors:
        blob = struct.pack("<%df" % len(values), *values)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def tensor(name, *shape):
    count = 1
    for d in shape:
        count *= d
    gain = name.endswith("LayerNorm.weight")
    return (name, list(shape), [(1.0 if gain else 0.0) + 0.2 * rng.gauss(0, 1) for _ in range(count)])


bert = os.path.join(out, "tiny-bert")
os.makedirs(bert, exist_ok=True)
with open(os.path.join(bert, "vocab.txt"), "w") as f:
    f.write("\n".join(vocab) + "\n")
config = {"model_type": "bert", "hidden_size": hidden, "num_hidden_layers": layers, "num_attention_heads": heads,
          "intermediate_size": intermediate, "vocab_size": len(vocab), "max_position_embeddings": positions,
          "type_vocab_size": 2, "layer_norm_eps": 1e-12, "hidden_act": "gelu", "pad_token_id": 0,
          "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1}
with open(os.path.join(bert, "config.json"), "w") as f:
    json.dump(config, f, sort_keys=True)
tensors = [tensor("embeddings.word_embeddings.weight", len(vocab), hidden),
           tensor("embeddings.position_embeddings.weight", positions, hidden),
           tensor("embeddings.token_type_embeddings.weight", 2, hidden),
           tensor("embeddings.LayerNorm.weight", hidden), tensor("embeddings.LayerNorm.bias", hidden)]
for l in range(layers):
    p = "encoder.layer.%d." % l
    for part in ["query", "key", "value"]:
        tensors += [tensor(p + "attention.self.%s.weight" % part, hidden, hidden), tensor(p + "attention.self.%s.bias" % part, hidden)]
    tensors += [tensor(p + "attention.output.dense.weight", hidden, hidden), tensor(p + "attention.output.dense.bias", hidden),
                tensor(p + "attention.output.LayerNorm.weight", hidden), tensor(p + "attention.output.LayerNorm.bias", hidden),
                tensor(p + "intermediate.dense.weight", intermediate, hidden), tensor(p + "intermediate.dense.bias", intermediate),
                tensor(p + "output.dense.weight", hidden, intermediate), tensor(p + "output.dense.bias", hidden),
                tensor(p + "output.LayerNorm.weight", hidden), tensor(p + "output.LayerNorm.bias", hidden)]
tensors.append(tensor("pooler.dense.weight", hidden, hidden))
tensors.append(tensor("pooler.dense.bias", hidden))
write_safetensors(os.path.join(bert, "model.safetensors"), tensors)


def sentence():
    label = rng.randrange(2)
    words = [rng.choice(filler) for _ in range(3 + rng.randrange(6))]
    for _ in range(2):
        words.insert(rng.randrange(len(words) + 1), rng.choice(positive if label else negative))
    return " ".join(words) + ".", label


data = os.path.join(out, "data")
os.makedirs(data, exist_ok=True)
for name, count in [("train", 48), ("validation", 16), ("test", 16)]:
    with open(os.path.join(data, name + ".csv"), "w") as f:
        f.write("text,label\n")
        for _ in range(count):
            text, label = sentence()
            f.write('"%s",%s\n' % (text, "pos" if label else "neg"))
with open(os.path.join(data, "pairs.csv"), "w") as f:
    f.write("text,text_pair,label\n")
    for _ in range(32):
        (a, label), (b, _) = sentence(), sentence()
        f.write('"%s","%s",%s\n' % (a, b, "pos" if label else "neg"))
with open(os.path.join(data, "texts.txt"), "w") as f:
    for _ in range(12):
        f.write(sentence()[0] + "\n")
with open(os.path.join(data, "examples.jsonl"), "w") as f:
    for i in range(12):
        text, label = sentence()
        f.write(json.dumps({"text": text, "label": label}) + "\n")
print("make-tiny-fixtures: wrote %s and %s" % (bert, data))
