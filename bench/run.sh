#!/usr/bin/env bash
# Benchmarks, side by side in one run against the same engine and registries (see tests/env.sh):
#  - push: `docker pushx SRC TARGET` vs `docker tag` + `docker push` (+ `docker pull REF@DIGEST`
#    for the verified case), each run on a freshly built image so every layer is uploaded;
#  - two registries: one `docker pushx` vs two sequential `docker push`es;
#  - in each of those rows skopeo as a peer: `skopeo copy docker-daemon:IMAGE docker://REF`
#    per reference (+ the same `docker pull REF@DIGEST` for the verified case);
#  - `docker-pushx docker-cli-plugin-metadata`;
#  - `docker pushx verify --mode full` vs a fresh `docker pull`, and its peak RSS (bench/verify.sh);
#  - an up-to-date re-push of three targets vs `docker push` of them again (bench/uptodate.sh).
# Prints medians and ratios. Options: RUNS (default 7), LAYER_MB (default 16, three layers).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# A docker config of the run's own, whatever DOCKER_CONFIG says.
unset DOCKER_CONFIG
. bench/lib.sh
R1=$PUSHX_TEST_REGISTRY
# A second registry for the two-target case.
P4=$(free_port); registry second "$P4" 0 0
R2="127.0.0.1:$P4"

# Each run gets an image with new random layers under one fixed local name: bench/lib.sh's
# $W/fresh-image.

# Three decimals here (bench/lib.sh's ratio has two).
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }

# compare NAME CMD...: run the commands in turn, RUNS times each, each on a freshly built image
# (built outside the timing); sets MS to their medians in milliseconds, in order (A_MS, B_MS
# and C_MS to the first three).
compare() {
  local name=$1 i s t0 t1
  shift
  local cmds=("$@")
  for s in "${!cmds[@]}"; do : > "$W/$name.$s"; done
  for ((i = 0; i < RUNS; i++)); do
    for s in "${!cmds[@]}"; do
      "$W/fresh-image"
      t0=$(date +%s%N); bash -c "${cmds[$s]}"; t1=$(date +%s%N)
      echo $(((t1 - t0) / 1000)) >> "$W/$name.$s"
    done
  done
  MS=()
  for s in "${!cmds[@]}"; do
    MS+=("$(median_of < "$W/$name.$s" | awk '{ printf "%.1f", $1 / 1000 }')")
  done
  A_MS=${MS[0]} B_MS=${MS[1]} C_MS=${MS[2]:-}
}
# The peer: skopeo exports the image from the daemon (`docker save`) and compresses and uploads
# it itself (plain HTTP registries on loopback).
skopeo_row() { echo "  skopeo $(ms "$C_MS") ratio $(ratio "$C_MS" "$A_MS")"; }

plain_push="docker tag pushx-bench:cur $R1/bench/plain:1 && docker push -q $R1/bench/plain:1 >/dev/null"
plain_verified="docker tag pushx-bench:cur $R1/bench/plainv:1 && d=\$(docker push $R1/bench/plainv:1 | sed -n 's/.*digest: \\(sha256:[0-9a-f]*\\).*/\\1/p') && docker pull -q $R1/bench/plainv@\$d >/dev/null"
pushx_none="docker pushx --verify none --progress quiet -q pushx-bench:cur $R1/bench/pushx:1 >/dev/null"
pushx_default="docker pushx --progress quiet -q pushx-bench:cur $R1/bench/pushxv:1 >/dev/null"
two_plain="docker tag pushx-bench:cur $R1/bench/two:1 && docker tag pushx-bench:cur $R2/bench/two:1 && docker push -q $R1/bench/two:1 >/dev/null && docker push -q $R2/bench/two:1 >/dev/null"
skopeo_to() { echo "skopeo copy --quiet --dest-tls-verify=false $* docker-daemon:pushx-bench:cur docker://$R1/bench/skopeo:1 >/dev/null"; }
skopeo_push=$(skopeo_to)
skopeo_verified="$(skopeo_to --digestfile "$W/skopeo.digest") && docker pull -q $R1/bench/skopeo@\$(cat $W/skopeo.digest) >/dev/null"
two_skopeo="for r in $R1/bench/twos:1 $R2/bench/twos:1; do skopeo copy --quiet --dest-tls-verify=false docker-daemon:pushx-bench:cur docker://\$r >/dev/null; done"
two_pushx="docker pushx --verify none --progress quiet -q pushx-bench:cur $R1/bench/twox:1 $R2/bench/twox:1 >/dev/null"

echo "docker-pushx benchmark: $RUNS runs each, 3 layers of $LAYER_MB MB, fresh layers every run"
echo "engine $(docker version -f '{{.Server.Version}}' 2>/dev/null), registries $R1 and $R2"
echo

compare push "$plain_push" "$pushx_none" "$skopeo_push"
echo "push, no verification:  docker $(ms "$A_MS")  pushx $(ms "$B_MS")  ratio $(ratio "$B_MS" "$A_MS")  (target <= 1.05)$(skopeo_row)"
compare verified "$plain_verified" "$pushx_default" "$skopeo_verified"
echo "push, verified:         docker $(ms "$A_MS")  pushx $(ms "$B_MS")  ratio $(ratio "$B_MS" "$A_MS")  (target <= 1.15)$(skopeo_row)"
compare two "$two_plain" "$two_pushx" "$two_skopeo"
echo "two registries:         docker $(ms "$A_MS")  pushx $(ms "$B_MS")  ratio $(ratio "$B_MS" "$A_MS")  (target < 1)$(skopeo_row)"
# Small layers: per-request latency rather than the daemon's gzip (CPU-bound on 2 cores) dominates.
export MB=1
compare two-small "$two_plain" "$two_pushx" "$two_skopeo"
unset MB
echo "two registries, 1 MB:   docker $(ms "$A_MS")  pushx $(ms "$B_MS")  ratio $(ratio "$B_MS" "$A_MS")  (target < 1)$(skopeo_row)"

hyperfine --style none -N --warmup 20 --runs 300 --export-json "$W/meta.json" \
  "$BIN/docker-pushx docker-cli-plugin-metadata" >/dev/null 2>&1
echo "plugin metadata:        $(ms "$(jq '.results[0].median * 1000' "$W/meta.json")") median  (target < 2 ms)"

if [[ -x "$ROOT/bench/credentials.sh" ]]; then
  in_keyring_session "$ROOT/bench/credentials.sh" "$BIN" "$RUNS"
fi

# They run in this environment (its registries, its DOCKER_CONFIG), which they find by W.
export W
"$ROOT/bench/verify.sh"
"$ROOT/bench/uptodate.sh"
