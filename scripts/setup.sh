#!/usr/bin/env bash
# Sets up lpft-mpi on a Debian 12 machine that has the Swift toolchain:
#   1. installs the Debian packages it needs when missing (OpenMPI, OpenBLAS, pkg-config, pip),
#   2. fetches the pinned model and data sets into assets/ (sha256-checked),
#   3. builds the release binary .build/release/lpft-mpi.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"

packages=(libopenmpi-dev openmpi-bin libopenblas-dev pkg-config python3 python3-pip python3-venv ca-certificates)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# pip may come from elsewhere (pyenv, a venv): then python3-pip is not needed.
if python3 -m pip --version >/dev/null 2>&1; then
  keep=(); for p in "${missing[@]}"; do
    [[ $p == python3-pip || $p == python3 ]] && continue
    # venv (the TensorBoard check's) needs ensurepip, which Debian's python3 has in python3-venv.
    [[ $p == python3-venv ]] && python3 -c 'import ensurepip' >/dev/null 2>&1 && continue
    keep+=("$p")
  done
  missing=("${keep[@]+"${keep[@]}"}")
fi
if (( ${#missing[@]} )); then
  echo "setup: installing Debian packages: ${missing[*]}"
  sudo=""; [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

command -v swift >/dev/null || { echo "setup: the Swift toolchain is not on PATH (install it from swift.org first)" >&2; exit 1; }

bash scripts/fetch-assets.sh

echo "setup: building lpft-mpi (release)"
set +e
swift build -c release 2>&1 | grep -Ev '^\[[0-9]+/[0-9]+\] (Compiling|Emitting|Write|Linking|Applying)'
build_status=${PIPESTATUS[0]}
set -e
# A failed build must not leave an older binary looking usable.
[[ $build_status -eq 0 && -x .build/release/lpft-mpi ]] || { echo "setup: release build failed (exit $build_status; run: swift build -c release)" >&2; exit 1; }
echo "setup: done — .build/release/lpft-mpi"
