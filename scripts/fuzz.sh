#!/usr/bin/env bash
# libFuzzer targets for the readers of untrusted files (Tests/Fuzz/Targets/*.swift):
#   scripts/fuzz.sh list                      the targets
#   scripts/fuzz.sh TARGET SECONDS [-opt=v…]  fuzz TARGET for SECONDS (extra libFuzzer options)
#   scripts/fuzz.sh TARGET FILE…              run TARGET once on each FILE (reproduce a crash)
#   scripts/fuzz.sh build [TARGET…]           build only
# Each target is compiled with `swiftc -sanitize=fuzzer,address` against the modules it needs,
# themselves compiled with the same instrumentation into .build-fuzz/modules (each rebuilt when
# one of its sources, or a module it imports, changes): Model; for the grid and command-line
# targets, the files of Distributed listed in distributed_readers (no MPI) with Yams (Swift)
# and its libyaml (CYaml, C, built with clang -fsanitize=fuzzer-no-link,address) from the
# package's checkout .build/checkouts/Yams; for the command-line targets (cli-*) also
# swift-argument-parser from .build/checkouts (`swift package resolve` fetches both) and the
# option files of the CLI (Sources/lpft-mpi/Options, which parse and check flags only).
# Seeds: Tests/Fuzz/corpus/TARGET (committed, small); inputs found while fuzzing go to .build-fuzz/corpus/TARGET, crashes to
# .build-fuzz/artifacts/TARGET/. Exit status: 0 when no crash, 1 on a crash, 2 on misuse.
# The last line of a fuzzing run reads:
#   fuzz TARGET: N executions in S s, corpus C inputs, no crash
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
out="$here/.build-fuzz"

# Targets and the modules they need, in build order (a module after those it imports). To add
# one: write Tests/Fuzz/Targets/NAME.swift defining `func fuzzOneInput(_ bytes: [UInt8])`, put
# seeds in Tests/Fuzz/corpus/NAME/, and add NAME here; a module without a case in build_module
# below needs one.
declare -A target_modules=(
  [safetensors]=Model
  [wordpiece]=Model
  [bytepair]=Model
  [paper-formats]=Model
  [generic-table]=Model
  [grid]="CYaml Yams Model Distributed"
  [cli-train]="ArgumentParserToolInfo ArgumentParser CYaml Yams Model Distributed"
  [cli-ntk]="ArgumentParserToolInfo ArgumentParser CYaml Yams Model Distributed"
  [cli-embed]="ArgumentParserToolInfo ArgumentParser CYaml Yams Model Distributed"
  [cli-model]="ArgumentParserToolInfo ArgumentParser CYaml Yams Model Distributed"
)
# Sources compiled into a target besides Tests/Fuzz/Targets/NAME.swift and FuzzSupport.swift.
cli_sources=(Sources/lpft-mpi/Options/*.swift Tests/Fuzz/CLIFuzzSupport.swift)
declare -A target_sources=(
  [cli-train]="${cli_sources[*]}"
  [cli-ntk]="${cli_sources[*]}"
  [cli-embed]="${cli_sources[*]}"
  [cli-model]="${cli_sources[*]}"
)

# The Distributed files the grid and command-line targets need: the grid and manifest readers,
# the training settings and the ntk choices, and what they use. Distributed as a whole needs
# MPI; these files need only Foundation, Model and Yams (keep them so).
distributed_readers=(
  Sources/Distributed/Sweep/Grid.swift
  Sources/Distributed/Sweep/FlagValue.swift
  Sources/Distributed/Sweep/Manifest.swift
  Sources/Distributed/Sweep/SweepError.swift
  Sources/Distributed/Training/TrainingMethod.swift
  Sources/Distributed/Training/TrainingConfig.swift
  Sources/Distributed/Training/RunFolder.swift
  Sources/Distributed/NTK/NTKChoices.swift
)

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2; exit 2; }
die() { echo "fuzz: $*" >&2; exit 2; }

blas_cflags=$(pkg-config --cflags openblas 2>/dev/null) || die "pkg-config cannot find openblas (run scripts/setup.sh)"
blas_libs=$(pkg-config --libs openblas)
# One package name for every module, as SwiftPM builds them (conformances declared in the CLI
# for types of Model and Distributed are then not retroactive).
flags=(-parse-as-library -sanitize=fuzzer,address -O -g -package-name lpft_mpi -I "$here/Sources/COpenBLAS")
for f in $blas_cflags; do flags+=(-Xcc "$f"); done
# C modules: the toolchain's own clang, whose sanitizer instrumentation matches swiftc's runtimes.
toolchain=$(dirname "$(readlink -f "$(command -v swiftc)")")

# The Yams checkout of this package (SwiftPM's, pinned by Package.resolved).
yams_checkout() {
  local yams="$here/.build/checkouts/Yams"
  if [[ ! -d "$yams/Sources/CYaml" ]]; then
    echo "fuzz: fetching the Yams package (swift package resolve)" >&2
    swift package resolve >&2 || true
  fi
  [[ -d "$yams/Sources/CYaml" ]] || die "no Yams sources in $yams (run: swift package resolve)"
  echo "$yams"
}

# The swift-argument-parser checkout of this package.
argument_parser_checkout() {
  local parser="$here/.build/checkouts/swift-argument-parser"
  if [[ ! -d "$parser/Sources/ArgumentParser" ]]; then
    echo "fuzz: fetching the swift-argument-parser package (swift package resolve)" >&2
    swift package resolve >&2 || true
  fi
  [[ -d "$parser/Sources/ArgumentParser" ]] || die "no swift-argument-parser sources in $parser (run: swift package resolve)"
  echo "$parser"
}

# Sets `includes` to the -I flags that import the modules named $@ (Swift: $out/modules; C:
# its module map folder).
set_includes() {
  local m
  includes=(-I "$out/modules")
  for m in "$@"; do [[ -f "$out/modules/$m/module.modulemap" ]] && includes+=(-I "$out/modules/$m"); done
  return 0
}

# Builds module $1 as an instrumented static library lib$1.a in $out/modules, with its
# .swiftmodule (Swift) or module map and headers (C, in $out/modules/$1/) next to it;
# $2… are the modules it imports (a newer library of one forces a rebuild; so does this script
# for Distributed, whose file list is above).
build_module() {
  local module=$1 lib="$out/modules/lib$1.a" sources=() language=swift extra=() yams imports=() m f
  shift
  for m in "$@"; do imports+=("$out/modules/lib$m.a"); done
  case "$module" in
    Model) mapfile -t sources < <(find Sources/Model -name '*.swift' | sort) ;;
    CYaml) yams=$(yams_checkout); language=c; sources=("$yams"/Sources/CYaml/src/*.c) ;;
    Yams) yams=$(yams_checkout); sources=("$yams"/Sources/Yams/*.swift); extra=(-D SWIFT_PACKAGE -suppress-warnings) ;;
    Distributed) sources=("${distributed_readers[@]}"); imports+=("$here/scripts/fuzz.sh") ;;
    ArgumentParserToolInfo) sources=("$(argument_parser_checkout)"/Sources/ArgumentParserToolInfo/*.swift) ;;
    ArgumentParser)
      mapfile -t sources < <(find "$(argument_parser_checkout)/Sources/ArgumentParser" -name '*.swift' | sort)
      extra=(-suppress-warnings) ;;
    *) die "no build step for module $module" ;;
  esac
  for f in "${sources[@]}"; do [[ -f "$f" ]] || die "$module: missing source $f (update build_module in scripts/fuzz.sh)"; done
  local stale=0 interface="$out/modules/$module.swiftmodule"
  [[ $language == c ]] && interface="$out/modules/$module/module.modulemap"
  [[ -f "$interface" ]] || stale=1
  for f in "${sources[@]}" "${imports[@]}"; do [[ -f "$lib" && "$lib" -nt "$f" ]] || { stale=1; break; }; done
  (( stale )) || return 0
  echo "fuzz: building instrumented $module (${#sources[@]} files)" >&2
  mkdir -p "$out/modules"
  rm -f "$lib"
  if [[ $language == c ]]; then
    # libyaml as SwiftPM builds it (YAML_DECLARE_EXPORT), with coverage and ASan for libFuzzer.
    [[ -x "$toolchain/clang" && -x "$toolchain/llvm-ar" ]] || die "no clang and llvm-ar next to swiftc in $toolchain"
    local objects="$out/modules/$module.objects" include="$out/modules/$module"
    rm -rf "$objects" "$include"; mkdir -p "$objects"
    cp -R "$(dirname "${sources[0]}")/../include" "$include"
    for f in "${sources[@]}"; do
      "$toolchain/clang" -c -O1 -g -fsanitize=fuzzer-no-link,address -DYAML_DECLARE_EXPORT -I "$include" \
        "$f" -o "$objects/$(basename "$f" .c).o" || die "compiling $f failed"
    done
    "$toolchain/llvm-ar" rcs "$lib" "$objects"/*.o
  else
    set_includes "$@"
    swiftc "${flags[@]}" "${extra[@]}" "${includes[@]}" -wmo -module-name "$module" \
      -emit-module -emit-module-path "$out/modules/$module.swiftmodule" \
      -emit-library -static -o "$lib" "${sources[@]}" 2>&1 | grep -v 'warning: Cannot export local symbol' >&2 || true
  fi
  [[ -f "$lib" ]] || die "building $module failed"
}

# Builds the fuzzer binary of target $1 into $out/bin/$1.
build_target() {
  local target=$1 source="Tests/Fuzz/Targets/$1.swift" binary="$out/bin/$1"
  [[ -n "${target_modules[$target]:-}" && -f "$source" ]] || die "unknown target '$target' (scripts/fuzz.sh list)"
  local modules=(${target_modules[$target]}) libs=() built=()
  # Each module imports those before it; static libraries link dependents first.
  for m in "${modules[@]}"; do build_module "$m" "${built[@]}"; built+=("$m"); libs=("-l$m" "${libs[@]}"); done
  local extra_sources=(${target_sources[$target]:-})
  local inputs=("$source" Tests/Fuzz/FuzzSupport.swift "${extra_sources[@]}") stale=0
  for m in "${modules[@]}"; do inputs+=("$out/modules/lib$m.a"); done
  for f in "${inputs[@]}"; do [[ -x "$binary" && "$binary" -nt "$f" ]] || stale=1; done
  (( stale )) || return 0
  echo "fuzz: building target $target" >&2
  mkdir -p "$out/bin"
  set_includes "${modules[@]}"
  swiftc "${flags[@]}" -module-name "fuzz_${target//-/_}" "${includes[@]}" "$source" Tests/Fuzz/FuzzSupport.swift "${extra_sources[@]}" \
    -L "$out/modules" "${libs[@]}" $blas_libs -o "$binary" 2>&1 | grep -v 'warning: Cannot export local symbol' >&2 || true
  [[ -x "$binary" ]] || die "building target $target failed"
}

# Files the targets read besides their input.
export LPFT_FUZZ_WORDPIECE_MODEL=${LPFT_FUZZ_WORDPIECE_MODEL:-$here/assets/models/all-MiniLM-L6-v2}
export LPFT_FUZZ_BYTEPAIR_MODEL=${LPFT_FUZZ_BYTEPAIR_MODEL:-$here/Tests/ModelTests/Fixtures/tiny/tiny-roberta}
# Swift's Foundation keeps a 4 KiB buffer when it maps an empty file: not ours to fix.
export LSAN_OPTIONS="suppressions=$here/Tests/Fuzz/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
export OPENBLAS_NUM_THREADS=1
# libFuzzer, not Swift's backtracer, must handle a crash (to save the input; the backtracer
# also waits up to 30 s per crash).
export SWIFT_BACKTRACE=${SWIFT_BACKTRACE:-enable=no}

[[ $# -ge 1 ]] || usage
case "$1" in
  list) printf '%s\n' "${!target_modules[@]}" | sort; exit 0 ;;
  build)
    shift
    targets=("$@"); [[ ${#targets[@]} -gt 0 ]] || mapfile -t targets < <(printf '%s\n' "${!target_modules[@]}" | sort)
    for t in "${targets[@]}"; do build_target "$t"; done
    exit 0 ;;
  -h|--help) usage ;;
esac

target=$1; shift
[[ $# -ge 1 ]] || usage
build_target "$target"
binary="$out/bin/$target"

if [[ ! "$1" =~ ^[0-9]+$ ]]; then
  # Reproduce: run the inputs once each.
  exec "$binary" -runs=1 "$@"
fi

seconds=$1; shift
seeds="$here/Tests/Fuzz/corpus/$target"
corpus="$out/corpus/$target"
artifacts="$out/artifacts/$target"
mkdir -p "$corpus" "$artifacts"
[[ -d "$seeds" ]] || die "no seed corpus $seeds"
log="$out/logs/$target-$(date +%Y%m%d-%H%M%S).log"
mkdir -p "$out/logs"
status=0
"$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=16384 -print_final_stats=1 \
  -artifact_prefix="$artifacts/" "$@" "$corpus" "$seeds" >"$log" 2>&1 || status=$?
executions=$(grep -oE '^stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo '?')
elapsed=$(grep -oE '^Done [0-9]+ runs in [0-9]+ second' "$log" | grep -oE '[0-9]+ second' | grep -oE '[0-9]+' || echo "$seconds")
inputs=$(find "$corpus" -type f | wc -l)
if (( status != 0 )); then
  tail -n 60 "$log" >&2
  echo "fuzz $target: CRASH after $executions executions (log $log, input in $artifacts/)" >&2
  exit 1
fi
echo "fuzz $target: $executions executions in $elapsed s, corpus $inputs inputs, no crash"
