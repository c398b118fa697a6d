#!/usr/bin/env bash
# Fan-out: one image to 2 registries x 3 tags (the harness's plain registry and its htpasswd
# one, the same repository and three tags in each), an image of three fresh LAYER_MB MB layers
# built before every run (so every run uploads everything). Side by side with hyperfine:
#  - the sequential docker loop: `docker tag` + `docker push` per reference;
#  - `docker pushx --fanout copy SRC <6 refs>` (target <= 0.6 of the loop), `--fanout daemon`
#    and `--fanout auto`; a build without `--fanout` pushes through the daemon only, which is
#    what `--fanout daemon` is: that row is run and the copy rows are reported as unsupported;
#  - skopeo as a peer: `skopeo copy docker-daemon:IMAGE docker://REF` per reference.
# Every docker-pushx run uses `--verify none` (the loop and skopeo verify nothing either).
# It sets up tests/env.sh's environment; options RUNS (default 7), LAYER_MB (default 16), PLUGIN
# (see bench/lib.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
login_auth_registry

repo=bench/fanout-$$
refs=()
for reg in "$PUSHX_TEST_REGISTRY" "$PUSHX_TEST_AUTH_REGISTRY"; do
  for t in 1 2 3; do refs+=("$reg/$repo:$t"); done
done

loop="for r in ${refs[*]}; do docker tag pushx-bench:cur \$r && docker push -q \$r >/dev/null; done"
pushx() { echo "docker pushx $* --verify none --progress quiet -q pushx-bench:cur ${refs[*]} >/dev/null"; }
names=("docker loop") cmds=("$loop")
if has_fanout; then
  for f in copy daemon auto; do names+=("pushx --fanout $f"); cmds+=("$(pushx --fanout "$f")"); done
else
  names+=("pushx (daemon)"); cmds+=("$(pushx)")
fi
names+=("skopeo copy x6"); cmds+=("skopeo_copy pushx-bench:cur ${refs[*]}")

echo "fan-out: ${#refs[@]} references (2 registries x 3 tags), 3 x $LAYER_MB MB fresh layers every run, $RUNS runs"
# Nothing may be refused (a login missing, a registry down) or the times say nothing.
"$W/fresh-image"
for c in "${cmds[@]}"; do bash -c "$c" || { echo "fanout.sh: failed: $c" >&2; exit 1; }; done

args=()
for i in "${!cmds[@]}"; do args+=(-n "${names[$i]}" "${cmds[$i]}"); done
hyperfine --style none --shell bash --runs "$RUNS" --prepare "$W/fresh-image" \
  --export-json "$W/fanout.json" "${args[@]}" >/dev/null 2>&1
med() { jq -r ".results[$1].median * 1000" "$W/fanout.json"; }
loop_ms=$(med 0)
printf '%-22s %8s\n' "docker loop:" "$(ms "$loop_ms")"
for ((i = 1; i < ${#cmds[@]}; i++)); do
  target=""
  case ${names[$i]} in
    "pushx --fanout copy") target="  (target <= 0.6)" ;;
  esac
  printf '%-22s %8s   ratio %s%s\n' "${names[$i]}:" "$(ms "$(med "$i")")" \
    "$(ratio "$(med "$i")" "$loop_ms")" "$target"
done
has_fanout || echo "copy: not supported by this build (the pushx row is today's daemon fan-out)"
load
