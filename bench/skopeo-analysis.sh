#!/usr/bin/env bash
# Where skopeo's advantage over `docker push` comes from, in figures. Each variant pushes an
# image of three fresh LAYER_MB MB layers (built before every run, outside the measurement) to a
# registry of its own started here with its access log on, RUNS times; medians of:
#  - wall time;
#  - CPU time (user + sys) of the client (GNU time: the docker CLI and the plugin, or skopeo),
#    of the daemon (dockerd's /proc/PID/stat before and after: the daemon gzips for a push and
#    writes the tar stream for skopeo's `docker-daemon:` export), and of the registry; the sum
#    over the wall time is how many of the cores were busy (dockerd is shared: anything else it
#    does meanwhile is counted too);
#  - the layer bytes the registry got (the manifest's layer sizes) and the requests it answered
#    (its access log, by method): the round trips.
# Variants: `docker tag` + `docker push`; `docker pushx --verify none` (a daemon push too);
# `skopeo copy docker-daemon:IMAGE docker://REF` as it is, with GOMAXPROCS=1 (its parallel gzip,
# klauspost/pgzip, on one thread) and with `--dest-compress-level 6` (the level of docker's
# compress/gzip default, against pgzip's default -1, which klauspost/compress maps to 5).
# All of it for random layers (incompressible, as in every other bench), for layers of real files
# (DATA=files: /usr/lib and /usr/share in a random order, compressible like real images) and for
# base64 of random bytes (DATA=base64: compressible by symbol frequencies alone, no repeats).
# It sets up tests/env.sh's environment; options RUNS (default 7), LAYER_MB (default 16), PLUGIN
# (see bench/lib.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

# A plain registry like tests/env.sh's, but logging every request (distribution's access log,
# combined format, on stdout).
port=$(free_port)
cat > "$W/analysis.yml" <<YML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $W/analysis-data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
YML
docker-registry serve "$W/analysis.yml" > "$W/analysis.log" 2>&1 &
REG_PID=$!
PIDS+=("$REG_PID")
wait_for 20 curl -sf -o /dev/null "http://127.0.0.1:$port/v2/" || die "the analysis registry did not come up"
R="127.0.0.1:$port"
DOCKERD_PID=$(pgrep -xo dockerd) || die "no dockerd process to measure (a remote engine?)"
HZ=$(getconf CLK_TCK)
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

variants=(docker pushx skopeo skopeo-1thread skopeo-level6)
# cmd VARIANT REF: the command line of one variant.
cmd() {
  case $1 in
    docker) echo "docker tag pushx-bench:cur $2 && docker push -q $2" ;;
    pushx) echo "docker pushx --verify none --progress quiet -q pushx-bench:cur $2" ;;
    skopeo) echo "skopeo_copy pushx-bench:cur $2" ;;
    skopeo-1thread) echo "GOMAXPROCS=1 skopeo_copy pushx-bench:cur $2" ;;
    skopeo-level6) echo "skopeo copy --quiet --dest-tls-verify=false --dest-compress-level 6 docker-daemon:pushx-bench:cur docker://$2" ;;
  esac
}

# measure VARIANT RUN DATA: one measured push; appends "wall client dockerd registry" (seconds)
# to $W/an.DATA.VARIANT, and keeps the run's requests and layer bytes (the same every run).
measure() {
  local v=$1 i=$2 data=$3 repo="an/$3-$1-$2" l0 d0 r0 d1 r1
  DATA=$data "$W/fresh-image"
  l0=$(wc -l < "$W/analysis.log") d0=$(ticks "$DOCKERD_PID") r0=$(ticks "$REG_PID")
  /usr/bin/time -f '%e %U %S' -o "$W/an.time" bash -c "$(cmd "$v" "$R/$repo:1") >/dev/null"
  d1=$(ticks "$DOCKERD_PID") r1=$(ticks "$REG_PID")
  read -r wall user sys < "$W/an.time"
  awk -v w="$wall" -v c="$(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }')" \
    -v d=$((d1 - d0)) -v r=$((r1 - r0)) -v hz="$HZ" \
    'BEGIN { printf "%s %s %.2f %.2f\n", w, c, d / hz, r / hz }' >> "$W/an.$data.$v"
  tail -n +$((l0 + 1)) "$W/analysis.log" \
    | sed -n 's/.*"\(GET\|HEAD\|POST\|PATCH\|PUT\|DELETE\) \/v2\/.*/\1/p' | sort | uniq -c \
    | awk '{ n += $1; s = s " " $2 " " $1 } END { printf "%d (%s)\n", n, substr(s, 2) }' \
    > "$W/an.$data.$v.requests"
  curl -sf -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
      -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://$R/v2/$repo/manifests/1" \
    | jq '[.layers[].size] | add' > "$W/an.$data.$v.bytes"
}

col_median() { awk -v c="$1" '{ print $c }' "$2" | median_of; }

echo "skopeo analysis: 3 x $LAYER_MB MB fresh layers every run, $RUNS runs each, registry $R (access log on), $(nproc) cores"
echo "skopeo $(skopeo --version | awk '{ print $3 }'), engine $(docker version -f '{{.Server.Version}}')"
# skopeo must work here (its blob cache and the daemon export) before anything is timed.
"$W/fresh-image"
bash -c "$(cmd skopeo "$R/an/check:1")" || die "skopeo copy failed"
for data in random files base64; do
  for v in "${variants[@]}"; do : > "$W/an.$data.$v"; done
  for ((i = 0; i < RUNS; i++)); do
    for v in "${variants[@]}"; do measure "$v" "$i" "$data"; done
  done
  echo
  raw=$((3 * LAYER_MB * 1000 * 1000))
  echo "$data layers ($(awk -v r="$raw" 'BEGIN { printf "%.0f", r / 1e6 }') MB of files):"
  printf '  %-15s %9s %7s %7s %7s %7s %6s %11s %6s  %s\n' variant wall ratio client dockerd registry cores "layer bytes" "vs raw" "requests"
  base=$(col_median 1 "$W/an.$data.docker")
  for v in "${variants[@]}"; do
    f="$W/an.$data.$v"
    wall=$(col_median 1 "$f") c=$(col_median 2 "$f") d=$(col_median 3 "$f") r=$(col_median 4 "$f")
    bytes=$(cat "$f.bytes")
    printf '  %-15s %7.0fms %7s %6.2fs %6.2fs %6.2fs %6.2f %11s %6s  %s\n' "$v" \
      "$(awk -v w="$wall" 'BEGIN { print w * 1000 }')" "$(ratio "$wall" "$base")" "$c" "$d" "$r" \
      "$(awk -v w="$wall" -v c="$c" -v d="$d" -v r="$r" 'BEGIN { print (c + d + r) / w }')" \
      "$bytes" "$(ratio "$bytes" "$raw")" "$(cat "$f.requests")"
  done
done
echo
echo "(ratio: wall time / docker push's; client, dockerd, registry: CPU seconds; cores: their sum / wall)"
load
