#!/usr/bin/env bash
# CI's short fuzzing pass: every libFuzzer target of scripts/fuzz.sh for SECONDS (default 30)
# from its committed seeds; fails on the first crash, leak or hang. Needs the fetched MiniLM
# tokenizer (scripts/setup.sh) for the wordpiece target. Prints one line per target and
#   fuzz-ci: N passed, M failed
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
seconds=${1:-30}
fuzz="$here/scripts/fuzz.sh"
bash "$fuzz" build || { echo "fuzz-ci: building the fuzz targets failed" >&2; exit 1; }
passed=0; failed=0
for target in $(bash "$fuzz" list); do
  if bash "$fuzz" "$target" "$seconds"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
done
echo "fuzz-ci: $passed passed, $failed failed"
(( failed == 0 ))
