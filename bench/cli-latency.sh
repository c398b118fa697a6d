#!/usr/bin/env bash
# Latency of what the docker CLI runs around a command: a hook (after every hooked `docker
# login` / `docker push`) and a shell completion (on every Tab) that needs no daemon. Each is
# the plugin process as the CLI starts it, timed by hyperfine without a shell (-N); the bar is
# 5 ms. Usage: bench/cli-latency.sh [RUNS] (default 300); PLUGIN picks the docker-pushx binary
# (default this tree's release build).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-300}
if [[ -z ${PLUGIN:-} ]]; then
  cargo build --release --quiet
  PLUGIN=$PWD/target/release/docker-pushx
fi
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
# A config.json such as a user's: a plain-text login (the hook reads the file to decide) and
# a few registries (completing a TARGET reads them).
cat > "$W/config.json" <<'JSON'
{
  "auths": {
    "https://index.docker.io/v1/": {},
    "registry.example.com": { "auth": "dXNlcjpwYXNzd29yZA==" }
  },
  "credHelpers": { "gcr.io": "gcloud" },
  "plugins": { "pushx": { "hooks": "login,push,image push" } }
}
JSON
export DOCKER_CONFIG=$W
# No daemon is asked in any of these: a wrong DOCKER_HOST makes sure.
export DOCKER_HOST=unix:///nonexistent.sock

# What is timed answers as it should.
"$PLUGIN" pushx docker-cli-plugin-hooks '{"RootCmd":"login"}' | grep -q 'docker pushx import'
"$PLUGIN" pushx docker-cli-plugin-hooks '{"RootCmd":"push"}' | grep -q 'docker pushx verify'
"$PLUGIN" __complete pushx --verify '' | grep -qx ':4'
"$PLUGIN" __complete pushx myapi:1 '' | grep -q '^registry.example.com/'

hyperfine -N --style none --warmup 20 --runs "$RUNS" --export-json "$W/r.json" \
  -n "hook after docker login" "$PLUGIN pushx docker-cli-plugin-hooks '{\"RootCmd\":\"login\",\"Flags\":{\"password-stdin\":\"true\"}}'" \
  -n "hook after docker push" "$PLUGIN pushx docker-cli-plugin-hooks '{\"RootCmd\":\"push\",\"Flags\":{}}'" \
  -n "complete --verify values" "$PLUGIN __complete pushx --verify ''" \
  -n "complete subcommand flags" "$PLUGIN __complete pushx configure --" \
  -n "complete TARGET registries" "$PLUGIN __complete pushx myapi:1 ''" >/dev/null 2>&1
fail=0
for i in 0 1 2 3 4; do
  read -r name med mean max < <(jq -r ".results[$i] | [(.command | gsub(\" \"; \"_\")), .median * 1000, .mean * 1000, .max * 1000] | @tsv" "$W/r.json")
  ok=yes
  awk -v m="$med" 'BEGIN { exit !(m < 5) }' || { ok=NO; fail=1; }
  printf '%-28s median %5.2f ms  mean %5.2f ms  max %5.2f ms  (< 5 ms: %s)\n' "${name//_/ }:" "$med" "$mean" "$max" "$ok"
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
exit $fail
