"""PyTorch baseline for `lpft-mpi bench model` (not part of the build or the tests).

Trains the same MiniLM (BertForSequenceClassification, all-MiniLM-L6-v2 weights, 2 classes) on
random token ids of a fixed shape: forward in train mode (dropout) + cross-entropy + backward +
clip_grad_norm_(1.0) + AdamW, exactly the step `lpft-mpi bench model` times; then eval forward.

    python3 -m venv /tmp/torchenv
    /tmp/torchenv/bin/pip install torch transformers        # CPU wheels
    /tmp/torchenv/bin/python benchmarks/pytorch_baseline.py --threads 2 --batch 8 --seq 128

On AMD CPUs the PyPI wheel's MKL picks slower kernels; the stronger baseline (the one to compare
against) lets it use its AVX2 kernels through a one-function library:
    echo 'int mkl_serv_intel_cpu_true(void){return 1;}' > f.c && gcc -shared -fPIC -o libf.so f.c
    LD_PRELOAD=$PWD/libf.so /tmp/torchenv/bin/python benchmarks/pytorch_baseline.py ...
Runs of ours and PyTorch's should alternate (this VM drifts by 5-10 % between identical runs).
"""
import argparse, json, os, time

import torch
from transformers import BertForSequenceClassification

parser = argparse.ArgumentParser()
parser.add_argument("--model", default=os.path.join(os.path.dirname(__file__), "..", "assets/models/all-MiniLM-L6-v2"))
parser.add_argument("--threads", type=int, default=2)
parser.add_argument("--batch", type=int, default=8)
parser.add_argument("--seq", type=int, default=128)
parser.add_argument("--steps", type=int, default=10)
args = parser.parse_args()

torch.set_num_threads(args.threads)
torch.manual_seed(0)
model = BertForSequenceClassification.from_pretrained(args.model, num_labels=2)
ids = torch.randint(0, model.config.vocab_size, (args.batch, args.seq))
mask = torch.ones_like(ids)
labels = torch.arange(args.batch) % 2
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, weight_decay=0.0)  # the paper sets no decay

def step():
    model.train()
    optimizer.zero_grad(set_to_none=True)
    loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()

for _ in range(2):
    step()
start = time.perf_counter()
for _ in range(args.steps):
    step()
train_seconds = (time.perf_counter() - start) / args.steps

model.eval()
with torch.no_grad():
    model(input_ids=ids, attention_mask=mask)
    start = time.perf_counter()
    for _ in range(max(3, args.steps)):
        model(input_ids=ids, attention_mask=mask)
    eval_seconds = (time.perf_counter() - start) / max(3, args.steps)

print(json.dumps({"torch": torch.__version__, "threads": args.threads, "batch": args.batch, "seq": args.seq,
                  "train_examples_per_s": args.batch / train_seconds,
                  "eval_examples_per_s": args.batch / eval_seconds}))
