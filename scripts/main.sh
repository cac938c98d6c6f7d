#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh), then runs the main job on 2 local ranks.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
bash scripts/setup.sh
scripts/launch -np 2 lpft-mpi info
scripts/launch -np 2 lpft-mpi selftest comm
scripts/launch -np 2 lpft-mpi bench allreduce --max-bytes $((64 << 20))
