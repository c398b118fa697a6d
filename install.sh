#!/usr/bin/env sh
# Build docker-pushx and install it: the plugin into docker's cli-plugins directory, the
# credential helper onto PATH. Run it again to update. `./install.sh --uninstall` first undoes
# `docker pushx configure` (the config.json entries naming pushx: a credsStore naming a missing
# helper fails every `docker login`), then removes both binaries and the man pages.
#
# Environment: DOCKER_CONFIG (docker's config directory, default ~/.docker); PUSHX_BIN_DIR (where
# the helper goes; default /usr/local/bin as root, else ~/.local/bin); PUSHX_MAN_DIR (the man
# directory the pages go under, in man1/; default share/man beside PUSHX_BIN_DIR, e.g.
# /usr/local/share/man or ~/.local/share/man, where man looks for a bin directory on PATH);
# PUSHX_INSTALL_FROM=DIR installs the two binaries found in DIR instead of building them (the
# tests use it).
set -eu
cd "$(dirname "$0")"

config_dir="${DOCKER_CONFIG:-$HOME/.docker}"
plugin_dir="$config_dir/cli-plugins"
if [ -n "${PUSHX_BIN_DIR:-}" ]; then
  bin_dir=$PUSHX_BIN_DIR
elif [ "$(id -u)" = 0 ]; then
  bin_dir=/usr/local/bin
else
  bin_dir="$HOME/.local/bin"
fi
man_dir="${PUSHX_MAN_DIR:-$(dirname "$bin_dir")/share/man}/man1"
usage="usage: ./install.sh [--uninstall]"

uninstall() {
  plugin="$plugin_dir/docker-pushx"
  if [ -x "$plugin" ]; then
    # The plugin edits config.json the way `configure` did (locked, atomic, other keys kept).
    # If it cannot (a malformed file), nothing is removed, so that it can be run again.
    status=0
    DOCKER_CONFIG="$config_dir" "$plugin" configure --undo || status=$?
    case $status in
      0) ;;
      2) # a docker-pushx from before `configure --undo`
        echo "warning: this docker-pushx cannot undo \`configure\`: if $config_dir/config.json names \"pushx\" (credsStore, credHelpers or plugins), delete those entries by hand, or docker login will fail" >&2 ;;
      *) echo "install.sh: nothing was removed: fix the problem above and run ./install.sh --uninstall again" >&2
        exit 1 ;;
    esac
  elif [ -f "$config_dir/config.json" ] && grep -q '"pushx"' "$config_dir/config.json"; then
    echo "warning: $config_dir/config.json names \"pushx\" (credsStore, credHelpers or plugins) and $plugin is not there to remove it: delete those entries by hand, or docker login will fail" >&2
  fi
  rm -f "$config_dir/.config.json.pushx-lock" # the plugin's lock file for config.json edits
  for f in "$plugin" "$bin_dir/docker-credential-pushx"; do
    if [ -e "$f" ] || [ -L "$f" ]; then
      rm -f "$f"
      echo "removed $f"
    else
      echo "not installed: $f"
    fi
  done
  pages=0
  for f in "$man_dir"/docker-pushx.1 "$man_dir"/docker-pushx-*.1; do
    if [ -f "$f" ]; then
      rm -f "$f"
      pages=$((pages + 1))
    fi
  done
  if [ "$pages" -gt 0 ]; then echo "removed $pages man pages from $man_dir"; else echo "not installed: man pages in $man_dir"; fi
  echo "logins docker-pushx kept stay in the OS keyring (\`docker pushx logout SERVER\` before uninstalling removes one)"
}

case "${1:-}" in
  --uninstall) uninstall; exit 0 ;;
  "") ;;
  -h|--help) echo "$usage"; exit 0 ;;
  *) echo "install.sh: unknown option $1 ($usage)" >&2; exit 2 ;;
esac

if [ -n "${PUSHX_INSTALL_FROM:-}" ]; then
  from=$PUSHX_INSTALL_FROM
else
  command -v cargo >/dev/null 2>&1 || { echo "install.sh: cargo is needed to build (https://rustup.rs)" >&2; exit 1; }
  # cargo's own progress on stderr: a first build takes several minutes (see README, Install).
  echo "building release binaries (a first build takes about 5 minutes on 2 cores)..." >&2
  cargo build --release --locked --bins
  from=target/release
fi
for f in docker-pushx docker-credential-pushx; do
  [ -x "$from/$f" ] || { echo "install.sh: $from/$f is missing" >&2; exit 1; }
done
mkdir -p "$plugin_dir" "$bin_dir"
install -m 0755 "$from/docker-pushx" "$plugin_dir/docker-pushx"
install -m 0755 "$from/docker-credential-pushx" "$bin_dir/docker-credential-pushx"
echo "installed $plugin_dir/docker-pushx"
echo "installed $bin_dir/docker-credential-pushx"
# Man pages, generated from the command-line definitions by the binary just installed.
# Without them everything else still works: a failure is only a warning.
if out=$("$plugin_dir/docker-pushx" __man "$man_dir" 2>&1); then
  echo "installed $(printf '%s\n' "$out" | grep -c .) man pages into $man_dir (man docker-pushx)"
else
  echo "warning: man pages not installed: $out" >&2
fi
case ":$PATH:" in
  *":$bin_dir:"*) ;;
  *) echo "note: $bin_dir is not on PATH; add it (e.g. export PATH=\"$bin_dir:\$PATH\") so docker can run docker-credential-pushx" ;;
esac
