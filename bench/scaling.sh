#!/usr/bin/env bash
# Scaling with the number of registries: one image (three fresh LAYER_MB MB layers, built before
# every run) to 1, 2, 3 and 4 registries, one tag each: the harness's plain registry and up to
# three more plain ones started here. Side by side with hyperfine: `docker pushx --verify none`
# (with `--fanout copy` when the build has it, else through the daemon, today's fan-out) and,
# for reference, the sequential docker loop (`docker tag` + `docker push` per reference).
# Prints the time per extra registry as a fraction of the first push (target: each extra
# registry costs at most 0.3 of it), writes bench/scaling.dat and draws bench/scaling.png from
# it with bench/scaling.gnuplot (Debian's gnuplot-nox).
# It sets up tests/env.sh's environment; options RUNS (default 7), LAYER_MB (default 16), PLUGIN
# (see bench/lib.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
. bench/lib.sh

regs=("$PUSHX_TEST_REGISTRY")
for n in 2 3 4; do extra_registry "scale$n"; regs+=("$REG"); done
if has_fanout; then mode=copy fanout="--fanout copy"; else mode=daemon fanout=""; fi
# The build, without a date: its version and the last commit that changed the binary's source.
build="docker-pushx $(docker pushx version 2>/dev/null | head -n 1 | awk '{ print $NF }')"
if [[ $PLUGIN == "$BIN/docker-pushx" ]]; then
  build="$build, source at $(git log -1 --format=%h -- src Cargo.toml Cargo.lock)"
else
  build="$build, $PLUGIN"
fi
has_fanout || build="$build, before --fanout copy"

repo=bench/scale-$$
names=() cmds=()
for n in 1 2 3 4; do
  refs=()
  for ((i = 0; i < n; i++)); do refs+=("${regs[$i]}/$repo:$n"); done
  names+=("pushx $n") cmds+=("docker pushx $fanout --verify none --progress quiet -q pushx-bench:cur ${refs[*]} >/dev/null")
  names+=("docker $n") cmds+=("for r in ${refs[*]}; do docker tag pushx-bench:cur \$r && docker push -q \$r >/dev/null; done")
done

echo "scaling: 1-4 registries x 1 tag, 3 x $LAYER_MB MB fresh layers every run, $RUNS runs, pushx $mode ($build)"
"$W/fresh-image"
for c in "${cmds[@]}"; do bash -c "$c" || { echo "scaling.sh: failed: $c" >&2; exit 1; }; done
args=()
for i in "${!cmds[@]}"; do args+=(-n "${names[$i]}" "${cmds[$i]}"); done
hyperfine --style none --runs "$RUNS" --prepare "$W/fresh-image" \
  --export-json "$W/scaling.json" "${args[@]}" >/dev/null 2>&1
med() { jq -r ".results[$1].median * 1000" "$W/scaling.json"; }

dat="$ROOT/bench/scaling.dat"
{
  echo "# bench/scaling.sh: median ms, $RUNS runs, 3 x $LAYER_MB MB fresh layers, pushx $mode"
  echo "# build: $build"
  echo "# registries pushx_ms docker_loop_ms"
} > "$dat"
first=$(med 0)
for n in 1 2 3 4; do
  p=$(med $(((n - 1) * 2))) d=$(med $(((n - 1) * 2 + 1)))
  echo "$n $p $d" >> "$dat"
  if ((n == 1)); then
    printf '1 registry:   pushx %9s   docker loop %9s\n' "$(ms "$p")" "$(ms "$d")"
  else
    extra=$(awk -v p="$p" -v f="$first" -v n="$n" 'BEGIN { print (p - f) / (n - 1) }')
    printf '%d registries: pushx %9s   docker loop %9s   per extra registry %s, ratio %s of the first  (target <= 0.3)\n' \
      "$n" "$(ms "$p")" "$(ms "$d")" "$(ms "$extra")" "$(ratio "$extra" "$first")"
  fi
done
gnuplot -e "dat='$dat'; out='$ROOT/bench/scaling.png'; build='$build; median of $RUNS runs, 3 x $LAYER_MB MB'" "$ROOT/bench/scaling.gnuplot"
echo "chart: bench/scaling.png (data bench/scaling.dat)"
load
