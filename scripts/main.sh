#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh), then runs the main job: `lpft-mpi experiment`, the paper
# in miniature (all five methods on sentiment-ood, the NTK, the report) on 2 local ranks.
# Extra arguments go to the experiment, e.g. `bash scripts/main.sh --full`.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
bash scripts/setup.sh
.build/release/lpft-mpi experiment "$@"
