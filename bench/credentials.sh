#!/usr/bin/env bash
# Credential-helper latency, side by side on the same unlocked keyring: `docker-credential-pushx
# get` (Secret Service, auto, keyutils) against Debian's Go `docker-credential-secretservice get`,
# then `store` (Secret Service) against the Go helper's `store` of the same credential.
# Run inside a D-Bus session with an unlocked keyring and a kernel session keyring; bench/run.sh
# does that. Usage: bench/credentials.sh BIN_DIR [RUNS]
set -euo pipefail
BIN=$1
RUNS=${2:-7}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
H="$BIN/docker-credential-pushx"
key="bench-$$.example:5000"
cred="{\"ServerURL\":\"$key\",\"Username\":\"bench\",\"Secret\":\"p>?~s?>~w?~>d\"}"
printf '%s' "$cred" | docker-credential-secretservice store
printf '%s' "$cred" | PUSHX_CREDENTIAL_STORE=secret-service "$H" store
printf '%s' "$cred" | PUSHX_CREDENTIAL_STORE=keyutils "$H" store
for h in docker-credential-secretservice "$H"; do
  printf '%s' "$key" | "$h" get | grep -q '"bench"' || { echo "credentials.sh: $h get failed" >&2; exit 1; }
done

runs=$((RUNS * 15))
hyperfine --style none --warmup 5 --runs "$runs" --export-json "$W/get.json" \
  -n "go secretservice" "printf %s $key | docker-credential-secretservice get" \
  -n "pushx secret-service" "printf %s $key | PUSHX_CREDENTIAL_STORE=secret-service $H get" \
  -n "pushx auto" "printf %s $key | $H get" \
  -n "pushx keyutils" "printf %s $key | PUSHX_CREDENTIAL_STORE=keyutils $H get" >/dev/null 2>&1
med() { jq -r ".results[$1].median * 1000" "$W/get.json"; }
go=$(med 0)
for i in 1 2 3; do
  name=$(jq -r ".results[$i].command" "$W/get.json")
  printf 'helper get, %-21s %6.2f ms   go secretservice %6.2f ms   ratio %s  (target <= 0.5)\n' \
    "$name:" "$(med "$i")" "$go" "$(awk -v a="$(med "$i")" -v b="$go" 'BEGIN { printf "%.3f", a / b }')"
done

# The same credential again each run: every run replaces the item the one before wrote.
printf '%s' "$cred" > "$W/cred.json"
hyperfine --style none --warmup 5 --runs "$runs" --export-json "$W/store.json" \
  -n "go secretservice" "docker-credential-secretservice store < $W/cred.json" \
  -n "pushx secret-service" "PUSHX_CREDENTIAL_STORE=secret-service $H store < $W/cred.json" >/dev/null 2>&1
smed() { jq -r ".results[$1].median * 1000" "$W/store.json"; }
printf 'helper store, %-19s %6.2f ms   go secretservice %6.2f ms   ratio %s\n' \
  "pushx secret-service:" "$(smed 1)" "$(smed 0)" "$(awk -v a="$(smed 1)" -v b="$(smed 0)" 'BEGIN { printf "%.3f", a / b }')"

printf '%s' "$key" | docker-credential-secretservice erase
printf '%s' "$key" | PUSHX_CREDENTIAL_STORE=secret-service "$H" erase
printf '%s' "$key" | PUSHX_CREDENTIAL_STORE=keyutils "$H" erase
