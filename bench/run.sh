#!/usr/bin/env bash
# Benchmarks, side by side in one run against the same engine and registries (see tests/env.sh):
#  - push: `docker pushx SRC TARGET` vs `docker tag` + `docker push` (+ `docker pull REF@DIGEST`
#    for the verified case), each run on a freshly built image so every layer is uploaded;
#  - two registries: one `docker pushx` vs two sequential `docker push`es;
#  - `docker-pushx docker-cli-plugin-metadata`;
#  - `docker pushx verify --mode full` vs a fresh `docker pull`, and its peak RSS (bench/verify.sh);
#  - an up-to-date re-push of three targets vs `docker push` of them again (bench/uptodate.sh).
# Prints medians and ratios. Options: RUNS (default 7), LAYER_MB (default 16, three layers).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
. tests/env.sh

RUNS=${RUNS:-7}
LAYER_MB=${LAYER_MB:-16}
cargo build --release --quiet
BIN="$ROOT/target/release"
export DOCKER_CONFIG="$W/docker-config"
mkdir -p "$DOCKER_CONFIG/cli-plugins"
ln -sf "$BIN/docker-pushx" "$DOCKER_CONFIG/cli-plugins/docker-pushx"
export PATH="$BIN:$PATH"
R1=$PUSHX_TEST_REGISTRY
# A second registry for the two-target case.
P4=$(free_port); registry second "$P4" 0 0
R2="127.0.0.1:$P4"

# Each run gets an image with new random layers under one fixed local name.
mkdir -p "$W/img"
cat > "$W/fresh-image" <<SCRIPT
#!/bin/sh
set -e
cd "$W/img"
for f in a b c; do head -c \$((\${MB:-$LAYER_MB} * 1000 * 1000)) /dev/urandom > \$f; done
printf 'FROM scratch\nCOPY a /a\nCOPY b /b\nCOPY c /c\n' > Dockerfile
DOCKER_BUILDKIT=0 docker build -q -t pushx-bench:cur . >/dev/null 2>&1
SCRIPT
chmod +x "$W/fresh-image"

ms() { awk -v a="$1" 'BEGIN { printf "%.1f ms", a }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
median_of() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# compare NAME CMD_A CMD_B: run A and B alternately, RUNS times each, each on a freshly built
# image (built outside the timing); sets A_MS and B_MS to the medians in milliseconds.
compare() {
  local name=$1 a=$2 b=$3 i t0 t1
  : > "$W/$name.a"; : > "$W/$name.b"
  for ((i = 0; i < RUNS; i++)); do
    for side in a b; do
      "$W/fresh-image"
      local cmd=$a; [[ $side == b ]] && cmd=$b
      t0=$(date +%s%N); bash -c "$cmd"; t1=$(date +%s%N)
      echo $(((t1 - t0) / 1000)) >> "$W/$name.$side"
    done
  done
  A_MS=$(median_of < "$W/$name.a" | awk '{ printf "%.1f", $1 / 1000 }')
  B_MS=$(median_of < "$W/$name.b" | awk '{ printf "%.1f", $1 / 1000 }')
}

plain_push="docker tag pushx-bench:cur $R1/bench/plain:1 && docker push -q $R1/bench/plain:1 >/dev/null"
plain_verified="docker tag pushx-bench:cur $R1/bench/plainv:1 && d=\$(docker push $R1/bench/plainv:1 | sed -n 's/.*digest: \\(sha256:[0-9a-f]*\\).*/\\1/p') && docker pull -q $R1/bench/plainv@\$d >/dev/null"
pushx_none="docker pushx --verify none --progress quiet -q pushx-bench:cur $R1/bench/pushx:1 >/dev/null"
pushx_default="docker pushx --progress quiet -q pushx-bench:cur $R1/bench/pushxv:1 >/dev/null"
two_plain="docker tag pushx-bench:cur $R1/bench/two:1 && docker tag pushx-bench:cur $R2/bench/two:1 && docker push -q $R1/bench/two:1 >/dev/null && docker push -q $R2/bench/two:1 >/dev/null"
two_pushx="docker pushx --verify none --progress quiet -q pushx-bench:cur $R1/bench/twox:1 $R2/bench/twox:1 >/dev/null"

echo "docker-pushx benchmark: $RUNS runs each, 3 layers of $LAYER_MB MB, fresh layers every run"
echo "engine $(docker version -f '{{.Server.Version}}' 2>/dev/null), registries $R1 and $R2"
echo

compare push "$plain_push" "$pushx_none"
echo "push, no verification:  docker $(ms "$A_MS")  pushx $(ms "$B_MS")  ratio $(ratio "$B_MS" "$A_MS")  (target <= 1.05)"
compare verified "$plain_verified" "$pushx_default"
echo "push, verified:         docker $(ms "$A_MS")  pushx $(ms "$B_MS")  ratio $(ratio "$B_MS" "$A_MS")  (target <= 1.15)"
compare two "$two_plain" "$two_pushx"
echo "two registries:         docker $(ms "$A_MS")  pushx $(ms "$B_MS")  ratio $(ratio "$B_MS" "$A_MS")  (target < 1)"
# Small layers: per-request latency rather than the daemon's gzip (CPU-bound on 2 cores) dominates.
export MB=1
compare two-small "$two_plain" "$two_pushx"
unset MB
echo "two registries, 1 MB:   docker $(ms "$A_MS")  pushx $(ms "$B_MS")  ratio $(ratio "$B_MS" "$A_MS")  (target < 1)"

hyperfine --style none -N --warmup 20 --runs 300 --export-json "$W/meta.json" \
  "$BIN/docker-pushx docker-cli-plugin-metadata" >/dev/null 2>&1
echo "plugin metadata:        $(ms "$(jq '.results[0].median * 1000' "$W/meta.json")") median  (target < 2 ms)"

if [[ -x "$ROOT/bench/credentials.sh" ]]; then
  in_keyring_session "$ROOT/bench/credentials.sh" "$BIN" "$RUNS"
fi

"$ROOT/bench/verify.sh"
"$ROOT/bench/uptodate.sh"
