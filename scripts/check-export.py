#!/usr/bin/env python3
"""Manual check of an exported classifier against Hugging Face transformers and PEFT.

Not run in CI (it needs torch, transformers, peft and safetensors; the XCTests do not).
It loads OUT/model with transformers.AutoModel (reporting missing / unexpected keys), applies
the head of classifier.safetensors with the temperature of lpft.json as the folder's README
says, and compares logits and probabilities with what `lpft-mpi predict` wrote for the same
texts. With --adapter it also loads the base model with the PEFT adapter (OUT/adapter) and
compares its features with OUT/model's (merged LoRA) and its logits with predict's.

    lpft-mpi predict --model runs/ft/model --input texts.jsonl --out predictions.jsonl
    python scripts/check-export.py --model runs/ft/model --input texts.jsonl --predictions predictions.jsonl
    python scripts/check-export.py --model runs/lora/model --adapter runs/lora/adapter \
        --input texts.jsonl --predictions predictions.jsonl

Prints the largest absolute differences; exits 1 when one exceeds --tolerance.
"""
import argparse
import json
import sys

import torch
from safetensors.torch import load_file
from transformers import AutoModel, AutoTokenizer


def read_texts(path):
    """One text per line, or JSONL {"text", optional "text_pair"} (as lpft-mpi's TextInput)."""
    with open(path, encoding="utf-8") as f:
        lines = [line.rstrip("\r\n") for line in f]
    if lines and lines[-1] == "":
        lines.pop()
    if path.endswith((".jsonl", ".json")) or (lines and lines[0].lstrip().startswith("{")):
        records = [json.loads(line) for line in lines if line.strip()]
        return [r["text"] for r in records], [r.get("text_pair") for r in records]
    return lines, [None] * len(lines)


def features(model, tokenizer, texts, pairs, meta, batch_size):
    """The head's input: the final hidden state of the first token (cls) or the last real one."""
    out = []
    for start in range(0, len(texts), batch_size):
        chunk, chunk_pairs = texts[start:start + batch_size], pairs[start:start + batch_size]
        kwargs = dict(truncation=True, max_length=meta["max_length"], padding=True, return_tensors="pt")
        batch = tokenizer(chunk, chunk_pairs, **kwargs) if any(p is not None for p in chunk_pairs) else tokenizer(chunk, **kwargs)
        with torch.no_grad():
            hidden = model(**batch).last_hidden_state  # (B, T, H)
        if meta["feature"] == "cls":
            out.append(hidden[:, 0])
        else:
            out.append(hidden[torch.arange(len(hidden)), batch["attention_mask"].sum(1) - 1])
    return torch.cat(out)


def load_tokenizer(folder):
    tokenizer = AutoTokenizer.from_pretrained(folder)
    if tokenizer.pad_token is None:  # GPT-2: pad on the right with eos (lpft-mpi's pad id)
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="OUT/model folder")
    parser.add_argument("--adapter", help="OUT/adapter folder (LoRA runs)")
    parser.add_argument("--input", required=True, help="the texts given to lpft-mpi predict")
    parser.add_argument("--predictions", required=True, help="lpft-mpi predict's output (JSONL)")
    parser.add_argument("--no-temperature", action="store_true", help="predict ran with --no-temperature")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--tolerance", type=float, default=1e-4, help="largest allowed absolute difference")
    args = parser.parse_args()
    torch.set_grad_enabled(False)

    meta = json.load(open(f"{args.model}/lpft.json"))
    head = load_file(f"{args.model}/classifier.safetensors")
    temperature = 1.0 if args.no_temperature else meta["temperature"]
    texts, pairs = read_texts(args.input)
    predicted = [json.loads(line) for line in open(args.predictions)]
    assert len(predicted) == len(texts), f"{len(predicted)} predictions for {len(texts)} texts"
    ours_logits = torch.tensor([p["logits"] for p in predicted], dtype=torch.float64)
    ours_probabilities = torch.tensor([p["probabilities"] for p in predicted], dtype=torch.float64)

    model, info = AutoModel.from_pretrained(args.model, output_loading_info=True)
    model.eval()
    print(f"AutoModel.from_pretrained({args.model}): {type(model).__name__}, "
          f"missing keys {info['missing_keys']}, unexpected keys {info['unexpected_keys']}, "
          f"mismatched {info['mismatched_keys']}")
    tokenizer = load_tokenizer(args.model)
    phi = features(model, tokenizer, texts, pairs, meta, args.batch_size)

    def compare(name, phi_):
        logits = (phi_ @ head["weight"].T + head["bias"]).double()
        probabilities = torch.softmax(logits / temperature, dim=-1)
        d_logits = (logits - ours_logits).abs().max().item()
        d_probabilities = (probabilities - ours_probabilities).abs().max().item()
        agree = (logits.argmax(1) == ours_logits.argmax(1)).sum().item()
        print(f"{name}: {len(texts)} texts, max |Δ logits| {d_logits:.3g}, max |Δ probabilities| {d_probabilities:.3g}, "
              f"same label {agree}/{len(texts)}")
        return max(d_logits, d_probabilities)

    worst = compare("transformers AutoModel + head vs lpft-mpi predict", phi)
    if args.adapter:
        from peft import PeftModel
        base = json.load(open(f"{args.adapter}/adapter_config.json"))["base_model_name_or_path"]
        peft_model = PeftModel.from_pretrained(AutoModel.from_pretrained(base), args.adapter).eval()
        phi_peft = features(peft_model, load_tokenizer(base), texts, pairs, meta, args.batch_size)
        d_features = (phi_peft - phi).abs().max().item()
        print(f"PEFT adapter on {base} vs merged OUT/model: max |Δ features| {d_features:.3g}")
        worst = max(worst, d_features, compare("PEFT base + adapter + head vs lpft-mpi predict", phi_peft))
    print("OK" if worst <= args.tolerance else f"FAILED: {worst:.3g} > tolerance {args.tolerance}")
    sys.exit(0 if worst <= args.tolerance else 1)


if __name__ == "__main__":
    main()
