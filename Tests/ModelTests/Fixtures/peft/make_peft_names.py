#!/usr/bin/env python3
"""Writes peft-names.json: the tensor names and shapes PEFT saves in adapter_model.safetensors,
and the keys of its adapter_config.json, for LoRA on the tiny test models as lpft-mpi exports
them (r 8, alpha 8 on query and value for RoBERTa; GPT-2: one adapter of rank 16 = 2·8, alpha 16
on the fused attn.c_attn). Run once with torch, transformers, peft and safetensors installed
(not in CI); the XCTests compare lpft-mpi's adapter against this file.

    python Tests/ModelTests/Fixtures/peft/make_peft_names.py
"""
import json
import os
import tempfile

import peft
import transformers
from peft import LoraConfig, get_peft_model
from safetensors import safe_open
from transformers import AutoModel

here = os.path.dirname(os.path.abspath(__file__))
fixtures = os.path.dirname(here)
settings = {
    "tiny-roberta": dict(r=8, lora_alpha=8, target_modules=["query", "value"], lora_dropout=0.0),
    "tiny-gpt2": dict(r=16, lora_alpha=16, target_modules=["c_attn"], lora_dropout=0.0, fan_in_fan_out=True),
}
result = {"peft": peft.__version__, "transformers": transformers.__version__}
for name, lora in settings.items():
    model = AutoModel.from_pretrained(os.path.join(fixtures, "safetensors", name))
    adapted = get_peft_model(model, LoraConfig(**lora))
    with tempfile.TemporaryDirectory() as folder:
        adapted.save_pretrained(folder)
        with safe_open(os.path.join(folder, "adapter_model.safetensors"), "pt") as f:
            tensors = {key: list(f.get_slice(key).get_shape()) for key in f.keys()}
        config = json.load(open(os.path.join(folder, "adapter_config.json")))
    result[name] = {"lora": lora, "tensors": dict(sorted(tensors.items())), "adapter_config_keys": sorted(config)}
with open(os.path.join(here, "peft-names.json"), "w") as f:
    json.dump(result, f, indent=1, sort_keys=True)
    f.write("\n")
