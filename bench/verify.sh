#!/usr/bin/env bash
# `docker pushx verify` benchmarks, side by side against the same engine and registry:
#  - `verify --mode full REF@DIGEST` of a freshly pushed image (three layers of LAYER_MB MB of
#    new random data) vs a true fresh pull of it: every local reference to that image removed
#    (`docker rmi -f` of its ID: an image this script built, never another), then
#    `docker pull REF@DIGEST`. Both read the same bytes from the registry; the pull also
#    extracts them. Target: verify <= the pull.
#  - the peak RSS (`/usr/bin/time -v`, "Maximum resident set size") of `verify --mode full` on
#    a BIG_LAYERS x BIG_MB MB image (5 x 100 MB by default). Target <= 64 MB.
# bench/run.sh runs it in its environment; alone it sets one up (tests/env.sh).
# Options: RUNS (default 7), LAYER_MB (default 16), BIG_LAYERS (5), BIG_MB (100).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
BIG_LAYERS=${BIG_LAYERS:-5}
BIG_MB=${BIG_MB:-100}
R=$PUSHX_TEST_REGISTRY
V="$W/verify-bench"
mkdir -p "$V/img"

# fresh NAME LAYERS MB: build NAME from new random layers, labelled with the run's label (so
# tests/env.sh's cleanup removes whatever is left of it), push it; prints IMAGE_ID DIGEST.
fresh() {
  local name=$1 n=$2 mb=$3 i files=() digest
  rm -rf "$V/img"/*
  printf 'FROM scratch\n' > "$V/img/Dockerfile"
  for ((i = 0; i < n; i++)); do
    head -c $((mb * 1000 * 1000)) /dev/urandom > "$V/img/l$i"
    printf 'COPY l%d /l%d\n' "$i" "$i" >> "$V/img/Dockerfile"
    files+=("l$i")
  done
  DOCKER_BUILDKIT=0 docker build -q --label "pushx-test-run=$PUSHX_TEST_RUN_ID" \
    -t "$name" "$V/img" >/dev/null 2>"$V/build.log" || { cat "$V/build.log" >&2; exit 1; }
  rm -f "${files[@]/#/$V/img/}"
  digest=$(docker push "$name" | sed -n 's/.*digest: \(sha256:[0-9a-f]*\).*/\1/p')
  [[ -n $digest ]] || { echo "verify.sh: pushing $name gave no digest" >&2; exit 1; }
  echo "$(docker image inspect -f '{{.Id}}' "$name") $digest"
}

# forget ID: remove the image the bench built, with every tag and digest reference to it.
forget() { docker rmi -f "$1" >/dev/null; }

ms() { awk -v a="$1" 'BEGIN { printf "%.1f ms", a }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
median_of() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
now_us() { echo $(($(date +%s%N) / 1000)); }

: > "$V/verify"; : > "$V/pull"
for ((i = 0; i < RUNS; i++)); do
  repo="$R/bench/verify-$i"
  read -r id digest < <(fresh "$repo:1" 3 "$LAYER_MB")
  [[ -n ${digest:-} ]] || exit 1
  ref="$repo@$digest"
  # Verify reads only the registry, so the local image can go first; alternate the order so
  # neither side always meets the registry's cache second.
  forget "$id"
  for side in $([[ $((i % 2)) == 0 ]] && echo verify pull || echo pull verify); do
    t0=$(now_us)
    if [[ $side == verify ]]; then
      docker pushx verify --mode full "$ref" >/dev/null
    else
      docker pull -q "$ref" >/dev/null
    fi
    t1=$(now_us)
    echo $((t1 - t0)) >> "$V/$side"
  done
  forget "$id"
done
VERIFY_MS=$(median_of < "$V/verify" | awk '{ printf "%.1f", $1 / 1000 }')
PULL_MS=$(median_of < "$V/pull" | awk '{ printf "%.1f", $1 / 1000 }')
echo "verify --mode full vs fresh pull, 3 x $LAYER_MB MB: pull $(ms "$PULL_MS")  verify $(ms "$VERIFY_MS")  ratio $(ratio "$VERIFY_MS" "$PULL_MS")  (target <= 1)"

# Peak RSS: the plugin binary run directly, so that the docker CLI's own memory is not counted.
read -r id digest < <(fresh "$R/bench/verify-big:1" "$BIG_LAYERS" "$BIG_MB")
[[ -n ${digest:-} ]] || exit 1
forget "$id"
peak=0
for ((i = 0; i < 3; i++)); do
  /usr/bin/time -v "$BIN/docker-pushx" verify --mode full "$R/bench/verify-big@$digest" \
    >/dev/null 2>"$V/time.txt"
  kb=$(sed -n 's/.*Maximum resident set size (kbytes): *//p' "$V/time.txt")
  if ((kb > peak)); then peak=$kb; fi
done
echo "verify --mode full peak RSS, $BIG_LAYERS x $BIG_MB MB: $(awk -v k="$peak" 'BEGIN { printf "%.1f MB", k / 1024 }') (max of 3 runs)  (target <= 64 MB)"
