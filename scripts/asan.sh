#!/usr/bin/env bash
# The address-sanitized end-to-end set: builds lpft-mpi with AddressSanitizer (release,
# -Ounchecked as shipped, into .build-asan) and runs train (ft, lora), ntk, embed, tokenize and,
# on the trained folders, predict, evaluate and export on
# a tiny BERT (scripts/make-tiny-fixtures.py) and the tiny RoBERTa and GPT-2 fixtures, on 1 and
# 2 ranks. Any AddressSanitizer report or failed command fails the script. A write past a
# buffer — e.g. a token id without an embedding row — stops here instead of corrupting a run.
#   bash scripts/asan.sh            prints one line per command and `asan: N passed, M failed`
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
build=.build-asan
echo "asan: building lpft-mpi with -sanitize=address (release) into $build"
if ! swift build -c release --build-path "$build" -Xswiftc -sanitize=address -Xcc -fsanitize=address \
    -Xcc -fno-omit-frame-pointer 2>&1 | grep -E 'error|warning: unre' >&2; then :; fi
binary=$build/release/lpft-mpi
[[ -x $binary ]] || { echo "asan: the sanitized build failed (run: swift build -c release --build-path $build -Xswiftc -sanitize=address)" >&2; exit 1; }

work=$(mktemp -d /tmp/lpft-asan.XXXXXX)
trap 'rm -rf "$work"' EXIT
python3 scripts/make-tiny-fixtures.py "$work" >/dev/null || { echo "asan: making the tiny fixtures failed" >&2; exit 1; }
bert=$work/tiny-bert data=$work/data roberta=$work/tiny-roberta gpt2=$work/tiny-gpt2
# The tiny reference models: weights and config (Fixtures/safetensors) + tokenizer (Fixtures/tiny).
for family in roberta gpt2; do
  mkdir -p "$work/tiny-$family"
  cp Tests/ModelTests/Fixtures/safetensors/tiny-$family/* "$work/tiny-$family/"
  cp -n Tests/ModelTests/Fixtures/tiny/tiny-$family/* "$work/tiny-$family/" 2>/dev/null || true
done
files=(--train "$data/train.csv" --validation "$data/validation.csv" --test "$data/test.csv")

# OpenMPI's own buffers live past MPI_Finalize: leaks are not what this job looks for.
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:halt_on_error=1:detect_stack_use_after_return=0"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 SWIFT_BACKTRACE=enable=no
passed=0; failed=0
check() {  # name, ranks, lpft-mpi arguments…
  local name=$1 np=$2; shift 2
  local log=$work/$name.log
  bash scripts/launch -np "$np" -- "$binary" "$@" >"$log" 2>&1
  local status=$?
  if (( status == 0 )) && ! grep -q "ERROR: AddressSanitizer" "$log"; then
    passed=$((passed + 1)); echo "asan: ok     $name (np $np)"
  else
    failed=$((failed + 1)); echo "asan: FAILED $name (np $np, exit $status)"; grep -A30 "ERROR: AddressSanitizer" "$log" | head -40 || tail -20 "$log"
  fi
}
small=(--epochs 1 --batch-size 8 --eval-batch-size 8 --quiet)
check train-bert-ft 2 train --model "$bert" "${files[@]}" --method ft "${small[@]}" --out "$work/bert-ft"
check train-bert-lora 2 train --model "$bert" "${files[@]}" --method lp-lora --lora-r 4 "${small[@]}" --out "$work/bert-lora"
check train-bert-pairs 1 train --model "$bert" --train "$data/pairs.csv" --test "$data/pairs.csv" --text-pair-column text_pair \
  --method lp-ft "${small[@]}" --out "$work/bert-pairs"
check train-roberta-ft 1 train --model "$roberta" "${files[@]}" --method ft --max-length 64 "${small[@]}" --out "$work/roberta-ft"
check train-gpt2-lora 2 train --model "$gpt2" "${files[@]}" --method lora --max-length 64 "${small[@]}" --out "$work/gpt2-lora"
check ntk-bert-rows 2 ntk --model "$bert" --examples "$data/examples.jsonl" --eval-examples "$data/examples.jsonl" --method ft \
  --gram-split rows --chunk-parameters 3000 --out "$work/ntk-rows"
check ntk-bert-slabs 2 ntk --model "$bert" --examples "$data/examples.jsonl" --method lp-ft --gram-split slabs \
  --slab-width 512 --out "$work/ntk-slabs"
check ntk-roberta-lora 1 ntk --model "$roberta" --examples "$data/examples.jsonl" --method lora --out "$work/ntk-roberta"
check ntk-gpt2 1 ntk --model "$gpt2" --examples "$data/examples.jsonl" --method ft --out "$work/ntk-gpt2"
for family in bert roberta gpt2; do
  model=${!family}
  check embed-$family 2 embed --model "$model" --input "$data/texts.txt" --pooling mean --normalize --json
  check tokenize-$family 1 tokenize --model "$model" --input "$data/texts.txt" --json
done
# The trained folders (train's model/ and adapter/): predict, evaluate, export, ntk and embed on them.
check predict-gpt2-lora 2 predict --model "$work/gpt2-lora/model" --input "$data/texts.txt" --eval-batch-size 3
check predict-roberta-ft 1 predict --model "$work/roberta-ft/model" --input "$data/texts.txt"
check evaluate-bert-ft 2 evaluate --model "$work/bert-ft/model" --test "$data/test.csv" --eval-batch-size 5
check export-bert-lora 1 export "$work/bert-lora" --out "$work/bert-lora-exported"
check export-bert-ft 1 export "$work/bert-ft" --checkpoint epoch-1 --out "$work/bert-ft-epoch-1"
check ntk-trained 2 ntk --model "$work/bert-ft/model" --head "$work/bert-ft/model/classifier.safetensors" \
  --examples "$data/examples.jsonl" --out "$work/ntk-trained"
echo "asan: $passed passed, $failed failed"
(( failed == 0 ))
