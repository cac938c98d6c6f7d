#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh), then runs every test: unit tests and the multi-rank
# tests that launch the built binary with mpirun (numeric tests need the release build), a
# short fuzzing pass over every reader and the command line, and the address-sanitized
# end-to-end set.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
bash scripts/setup.sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# The test process loads OpenBLAS without lpft-mpi's start-up check (BLAS.betterCoreType):
# give it the kernels the binary would choose, so both compute alike and at full speed.
if [ -z "${OPENBLAS_CORETYPE:-}" ]; then
  chosen=$(.build/release/lpft-mpi info --json | python3 -c \
    'import json, sys; r = json.load(sys.stdin); print(r["blasCoreName"] if r.get("openblasDetectedCore") else "")')
  if [ -n "$chosen" ]; then export OPENBLAS_CORETYPE=$chosen; fi
fi
swift test -c release -Xswiftc -enable-testing "$@"
# Short fuzzing pass over every reader (30 s per libFuzzer target from the committed seeds).
bash scripts/fuzz-ci.sh 30
# train, ntk, embed and tokenize built with AddressSanitizer on tiny models (a few minutes).
bash scripts/asan.sh
