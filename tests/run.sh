#!/usr/bin/env bash
# The test command. Run as root on a fresh Debian/Ubuntu machine it installs what is missing,
# starts a Docker engine (unless one answers), throwaway registries and a keyring session (see
# tests/env.sh), then runs the unit and end-to-end tests. Extra arguments go to the test runner:
# with cargo-nextest, `-E 'test(/^push::/)'` runs one module of the end-to-end binary
# (tests/e2e/), `--test e2e` all of it, `--lib` the unit tests, `-E 'test(helper)'` a name match.
set -euo pipefail
cd "$(dirname "$0")/.."
# Installing packages, starting an engine and placing the test CA in /etc/docker/certs.d need
# root: as a user, run again under sudo, with the same toolchain (sudo resets PATH, and root's
# rustup would have none).
if [[ $(id -u) != 0 ]] && command -v sudo >/dev/null 2>&1 && [[ -z ${PUSHX_TEST_NO_SUDO:-} ]]; then
  printf '%s\n' "run.sh: running as root through sudo (PUSHX_TEST_NO_SUDO=1 runs as $(id -un))" >&2
  exec sudo env PATH="$PATH" RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}" \
    CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}" ${CI:+CI="$CI"} \
    ${PUSHX_TEST_DOCKER_TLS_HOST:+PUSHX_TEST_DOCKER_TLS_HOST="$PUSHX_TEST_DOCKER_TLS_HOST"} \
    ${PUSHX_TEST_DOCKER_CERT_PATH:+PUSHX_TEST_DOCKER_CERT_PATH="$PUSHX_TEST_DOCKER_CERT_PATH"} \
    ${PUSHX_TEST_RUN_TIMEOUT:+PUSHX_TEST_RUN_TIMEOUT="$PUSHX_TEST_RUN_TIMEOUT"} \
    "$PWD/tests/run.sh" "$@"
fi
ROOT=$PWD
. tests/env.sh

export PUSHX_TEST_SECRET_SERVICE=1 PUSHX_TEST_KEYUTILS=1
# A hang must fail the run, not hold it: nextest stops a test after .config/nextest.toml's
# limit (and every command a test spawns has its own deadline, tests/e2e/common); cargo test has
# no per-test limit, so the whole run gets one, PUSHX_TEST_RUN_TIMEOUT (default 30 minutes).
limit=${PUSHX_TEST_RUN_TIMEOUT:-30m}
if command -v cargo-nextest >/dev/null 2>&1; then
  runner=(cargo nextest run --no-fail-fast "$@")
else
  log "cargo-nextest is not installed: running cargo test, limited to $limit in all"
  runner=(timeout --kill-after=30s "$limit" cargo test --no-fail-fast "$@")
fi
cargo build --bins --tests --quiet
status=0
in_keyring_session "${runner[@]}" || status=$?
if [[ ${runner[0]} == timeout && $status == 124 ]]; then
  log "the tests did not finish within $limit (PUSHX_TEST_RUN_TIMEOUT): stopped"
fi
# A test that skipped counts as passed: say which did not run, and why (under CI=true they fail).
if [[ -s $PUSHX_TEST_SKIPPED ]]; then
  log "$(sort -u "$PUSHX_TEST_SKIPPED" | wc -l) test(s) passed without running:"
  sort -u "$PUSHX_TEST_SKIPPED" | sed 's/^/  /' >&2
fi
exit "$status"
