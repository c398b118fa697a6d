#!/usr/bin/env sh
# Build docker-pushx and install it: the plugin into docker's cli-plugins directory, the
# credential helper onto PATH. Run it again to update; `./install.sh --uninstall` removes both.
set -eu
cd "$(dirname "$0")"

plugin_dir="${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins"
if [ "$(id -u)" = 0 ]; then bin_dir=/usr/local/bin; else bin_dir="$HOME/.local/bin"; fi

case "${1:-}" in
  --uninstall)
    rm -f "$plugin_dir/docker-pushx" "$bin_dir/docker-credential-pushx"
    echo "removed $plugin_dir/docker-pushx and $bin_dir/docker-credential-pushx"
    echo "if config.json names \"pushx\" in credsStore or credHelpers, remove it there too"
    exit 0 ;;
  "") ;;
  -h|--help) echo "usage: ./install.sh [--uninstall]"; exit 0 ;;
  *) echo "install.sh: unknown option $1 (usage: ./install.sh [--uninstall])" >&2; exit 2 ;;
esac

command -v cargo >/dev/null 2>&1 || { echo "install.sh: cargo is needed to build (https://rustup.rs)" >&2; exit 1; }
cargo build --release --locked --quiet --bins
mkdir -p "$plugin_dir" "$bin_dir"
install -m 0755 target/release/docker-pushx "$plugin_dir/docker-pushx"
install -m 0755 target/release/docker-credential-pushx "$bin_dir/docker-credential-pushx"
echo "installed $plugin_dir/docker-pushx"
echo "installed $bin_dir/docker-credential-pushx"
case ":$PATH:" in
  *":$bin_dir:"*) ;;
  *) echo "note: $bin_dir is not on PATH; add it (e.g. export PATH=\"$bin_dir:\$PATH\") so docker can run docker-credential-pushx" ;;
esac
