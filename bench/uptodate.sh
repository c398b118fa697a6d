#!/usr/bin/env bash
# Re-running a release job: an image already pushed to three repositories, pushed again.
# `docker pushx SRC T1 T2 T3` (each target found up to date at the registry, not pushed;
# with `--verify none`, and with the default `--verify pull`) vs `docker push` of the three
# references again (the engine asks the registry about every layer and writes each manifest
# again). Side by side with hyperfine. Target: pushx <= 0.5 of the docker loop.
# bench/run.sh runs it in its environment; alone it sets one up (tests/env.sh).
# Options: RUNS (default 7), LAYER_MB (default 16).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
R=$PUSHX_TEST_REGISTRY
U="$W/uptodate-bench"
mkdir -p "$U/img"

# One image of fresh random layers, labelled with the run's label (tests/env.sh's cleanup
# removes it), tagged and pushed once to three repositories.
printf 'FROM scratch\n' > "$U/img/Dockerfile"
for f in a b c; do
  head -c $((LAYER_MB * 1000 * 1000)) /dev/urandom > "$U/img/$f"
  printf 'COPY %s /%s\n' "$f" "$f" >> "$U/img/Dockerfile"
done
DOCKER_BUILDKIT=0 docker build -q --label "pushx-test-run=${PUSHX_TEST_RUN_ID:-bench}" \
  -t pushx-bench-utd:1 "$U/img" >/dev/null
refs=()
for n in 1 2 3; do
  refs+=("$R/bench/utd$n-$$:1")
  docker tag pushx-bench-utd:1 "${refs[-1]}"
  docker push -q "${refs[-1]}" >/dev/null
done

plain="for r in ${refs[*]}; do docker push -q \$r >/dev/null; done"
none="docker pushx --verify none --progress quiet -q pushx-bench-utd:1 ${refs[*]} >/dev/null"
pull="docker pushx --progress quiet -q pushx-bench-utd:1 ${refs[*]} >/dev/null"
# Every target must really be found up to date, or the comparison says nothing.
docker pushx --verify none --progress quiet --format json pushx-bench-utd:1 "${refs[@]}" \
  | jq -e '[.targets[].status] | all(. == "up-to-date")' >/dev/null \
  || { echo "uptodate.sh: the targets were not found up to date" >&2; exit 1; }

hyperfine --style none --warmup 2 --runs $((RUNS * 2)) --export-json "$U/r.json" \
  -n "docker push x3" "$plain" -n "pushx, --verify none" "$none" -n "pushx, --verify pull" "$pull" \
  >/dev/null 2>&1
med() { jq -r ".results[$1].median * 1000" "$U/r.json"; }
docker_ms=$(med 0)
for i in 1 2; do
  printf 'up-to-date re-push of 3 targets, %-16s %7.1f ms   docker push x3 %7.1f ms   ratio %s  (target <= 0.5)\n' \
    "$(jq -r ".results[$i].command" "$U/r.json" | sed 's/^pushx, //'):" "$(med "$i")" "$docker_ms" \
    "$(awk -v a="$(med "$i")" -v b="$docker_ms" 'BEGIN { printf "%.3f", a / b }')"
done
