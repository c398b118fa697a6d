# Sourced by every bench/ script (from the repository root): the environment of tests/env.sh
# (their own, or bench/run.sh's when it runs them: then `extra_registry` is not available), the
# release build as a docker CLI plugin, a fresh-image script, skopeo as a peer, and the small
# helpers.
# Options: RUNS (default 7), LAYER_MB (default 16, three layers), PLUGIN (the docker-pushx binary
# to time, default this tree's release build: another build can be compared on the same set-up).

[[ -n ${PUSHX_TEST_REGISTRY:-} ]] || . tests/env.sh

RUNS=${RUNS:-7}
LAYER_MB=${LAYER_MB:-16}
cargo build --release --quiet
BIN="$PWD/target/release"
export DOCKER_CONFIG="${DOCKER_CONFIG:-$W/docker-config}"
mkdir -p "$DOCKER_CONFIG/cli-plugins"
PLUGIN=${PLUGIN:-$BIN/docker-pushx}
ln -sf "$PLUGIN" "$DOCKER_CONFIG/cli-plugins/docker-pushx"
export PATH="$BIN:$PATH"

# $W/fresh-image [NAME]: build NAME (default pushx-bench:cur) from three new random layers of
# MB (default LAYER_MB) MB each, so that no registry has any of them. DATA=files makes them
# compressible like real layers: 16 random bytes, then a slice of the files under /usr/lib and
# /usr/share (in name order: the same slice for the same layer every time, so sizes compare);
# DATA=base64 makes them base64 of random bytes (compressible by symbol frequencies alone, no
# repeated strings). The label lets tests/env.sh's cleanup remove every image this makes, the
# replaced (dangling) ones too.
mkdir -p "$W/img"
cat > "$W/fresh-image" <<SCRIPT
#!/bin/sh
set -e
cd "$W/img"
n=\$((\${MB:-$LAYER_MB} * 1000 * 1000))
if [ "\${DATA:-random}" = files ] && [ "\$(stat -c %s $W/files.\$n 2>/dev/null)" != \$((3 * n)) ]; then
  find /usr/lib /usr/share -type f -size -4M 2>/dev/null | LC_ALL=C sort \\
    | xargs -d '\\n' cat 2>/dev/null | head -c \$((3 * n)) > $W/files.\$n
fi
i=0
for f in a b c; do
  case "\${DATA:-random}" in
    files) { head -c 16 /dev/urandom; tail -c +\$((i * n + 1)) $W/files.\$n | head -c \$((n - 16)); } > \$f ;;
    base64) head -c \$((n * 3 / 4)) /dev/urandom | base64 -w 0 > \$f ;;
    *) head -c \$n /dev/urandom > \$f ;;
  esac
  i=\$((i + 1))
done
printf 'FROM scratch\nCOPY a /a\nCOPY b /b\nCOPY c /c\n' > Dockerfile
DOCKER_BUILDKIT=0 docker build -q --label "pushx-test-run=$PUSHX_TEST_RUN_ID" \
  -t "\${1:-pushx-bench:cur}" . >/dev/null 2>&1
rm -f a b c
SCRIPT
chmod +x "$W/fresh-image"

# The machine's load (1, 5, 15 minutes), printed with the figures: other work on a shared
# machine moves them.
load() { echo "load average $(cut -d' ' -f1-3 /proc/loadavg)"; }
ms() { awk -v a="$1" 'BEGIN { printf "%.1f ms", a }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
median_of() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# Whether this build of docker-pushx has `--fanout` (the daemon-only builds do not).
has_fanout() { docker pushx --help 2>/dev/null | grep -q -- --fanout; }

# The harness's htpasswd registry, logged in for docker, docker-pushx (config.json `auths`, read
# after the keyring, which has no session here) and skopeo (`--dest-authfile` reads the same
# file): the password goes from the environment into the file, never onto argv or the terminal.
login_auth_registry() {
  local cfg="$DOCKER_CONFIG/config.json" auth
  auth=$(printf '%s:%s' "$PUSHX_TEST_USER" "$PUSHX_TEST_PASSWORD" | base64 -w0)
  [[ -s $cfg ]] || echo '{}' > "$cfg"
  (umask 077 && jq --arg r "$PUSHX_TEST_AUTH_REGISTRY" --arg a "$auth" '.auths[$r] = {auth: $a}' \
    "$cfg" > "$cfg.new") && mv "$cfg.new" "$cfg"
}

# skopeo_copy IMAGE REF...: `skopeo copy docker-daemon:IMAGE docker://REF`, one REF after the
# other (skopeo has no several-destination copy). The registries here are plain HTTP on loopback.
skopeo_copy() {
  local img=$1 r
  shift
  for r in "$@"; do
    skopeo copy --quiet --dest-tls-verify=false --dest-authfile "$DOCKER_CONFIG/config.json" \
      "docker-daemon:$img" "docker://$r" >/dev/null
  done
}
export -f skopeo_copy

# extra_registry NAME: another plain registry on a free port, like tests/env.sh's (stopped with
# them); prints nothing, sets REG to its host:port.
extra_registry() {
  local p
  p=$(free_port)
  registry "$1" "$p" 0 0
  REG="127.0.0.1:$p"
}
