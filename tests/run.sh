#!/usr/bin/env bash
# The test command. Run as root on a fresh Debian/Ubuntu machine it installs what is missing,
# starts a Docker engine (unless one answers), throwaway registries and a keyring session (see
# tests/env.sh), then runs the unit and end-to-end tests. Extra arguments go to the test runner
# (e.g. a test name filter).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
. tests/env.sh

export PUSHX_TEST_SECRET_SERVICE=1 PUSHX_TEST_KEYUTILS=1
if command -v cargo-nextest >/dev/null 2>&1; then
  runner=(cargo nextest run --no-fail-fast "$@")
else
  runner=(cargo test --no-fail-fast "$@")
fi
cargo build --bins --tests --quiet
status=0
in_keyring_session "${runner[@]}" || status=$?
exit "$status"
