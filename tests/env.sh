# Sourced by tests/run.sh and bench/run.sh: installs what is missing (as root), starts a Docker
# engine unless one answers, and throwaway registries on free 127.0.0.1 ports (plain, htpasswd
# auth, TLS + auth from a CA made here, and bearer-token auth with the token server of
# tests/token-server/), exporting PUSHX_TEST_* for the tests. Everything it starts is stopped
# when the sourcing shell exits.

log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() { log "$*"; exit 1; }

# --- packages ------------------------------------------------------------------------------
missing=()
need() { command -v "$1" >/dev/null 2>&1 || missing+=("$2"); }
need dockerd docker.io
need docker-registry docker-registry
need htpasswd apache2-utils
need openssl openssl
need curl curl
need dbus-run-session dbus
need gnome-keyring-daemon gnome-keyring
need keyctl keyutils
need docker-credential-secretservice golang-docker-credential-helpers
need hyperfine hyperfine
need jq jq
# tests/e2e/help.rs: the man pages must render without warnings.
need man man-db
# ssh:// daemons (tests/e2e/ssh.rs): a real sshd on loopback and the OpenSSH client.
need /usr/sbin/sshd openssh-server
need ssh openssh-client
need ssh-keygen openssh-client
# bench/verify.sh: the peak RSS of `verify`, from GNU time's -v report.
need /usr/bin/time time
# bench/: skopeo, the peer in the push comparisons; gnuplot draws bench/scaling.png.
need skopeo skopeo
need gnuplot gnuplot-nox
# tests/e2e/completion.rs: docker's bash completion script needs the bash-completion package.
[[ -e /usr/share/bash-completion/bash_completion ]] || missing+=(bash-completion)
# The token server (tests/token-server/) runs on Debian's Python with Debian's JWT library.
/usr/bin/python3 -c 'import jwt, cryptography' >/dev/null 2>&1 \
  || missing+=(python3 python3-jwt python3-cryptography)
if ((${#missing[@]})); then
  [[ $(id -u) == 0 ]] || die "missing ${missing[*]}: install them (apt-get install ${missing[*]}) or run as root"
  log "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v docker >/dev/null || die "no docker CLI on PATH"

W=$(mktemp -d /tmp/pushx-test.XXXXXX)
PIDS=()
# What the run leaves in the engine and in /etc/docker goes at its end, and only that: the
# tests build every image with the label pushx-test-run=$PUSHX_TEST_RUN_ID
# (tests/e2e/common::build_image), so removing the labelled image IDs (every tag and pulled
# digest on them goes too) touches nothing another run or the user made.
export PUSHX_TEST_RUN_ID="${W##*/}"
# Tests that skip for lack of something in the environment say so here (see run.sh).
export PUSHX_TEST_SKIPPED="$W/skipped"
CERTS_DIR= MADE_CERTS_D=
remove_run_images() {
  docker version >/dev/null 2>&1 || return 0
  local ids
  ids=$(docker image ls -q --no-trunc --filter "label=pushx-test-run=$PUSHX_TEST_RUN_ID" | sort -u)
  [[ -n $ids ]] || return 0
  # shellcheck disable=SC2086 # one ID per word
  docker image rm -f $ids >/dev/null 2>"$W/rmi.log" \
    || log "could not remove every test image (label pushx-test-run=$PUSHX_TEST_RUN_ID): $(tail -n 1 "$W/rmi.log")"
}
cleanup() {
  remove_run_images || true
  [[ -z $CERTS_DIR ]] || rm -rf "$CERTS_DIR"
  # Another run may have put its own CA there meanwhile: only an empty directory goes.
  [[ -z $MADE_CERTS_D ]] || rmdir /etc/docker/certs.d 2>/dev/null || true
  # gnome-keyring-daemon outlives its D-Bus session: stop the ones this run started.
  for p in $(pgrep -x gnome-keyring-d 2>/dev/null); do
    if { tr '\0' '\n' < "/proc/$p/environ"; } 2>/dev/null | grep -qx "XDG_DATA_HOME=$W/xdg-data"; then
      PIDS+=("$p")
    fi
  done
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$W"
}
trap cleanup EXIT

free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 20000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
}

wait_for() { # wait_for SECONDS CMD...
  local t=$1; shift
  for _ in $(seq $((t * 10))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}

# --- certificates: one CA for the TLS registry and the daemon's TLS listener -----------------
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=pushx test CA" \
  -keyout "$W/ca-key.pem" -out "$W/ca.pem" 2>/dev/null
cert() { # cert NAME EXT
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$1" -keyout "$W/$1-key.pem" -out "$W/$1.csr" 2>/dev/null
  printf '%s\n' "$2" > "$W/$1.ext"
  openssl x509 -req -in "$W/$1.csr" -CA "$W/ca.pem" -CAkey "$W/ca-key.pem" -CAcreateserial -days 2 \
    -extfile "$W/$1.ext" -out "$W/$1.pem" 2>/dev/null
}
cert server "subjectAltName=IP:127.0.0.1,DNS:localhost
extendedKeyUsage=serverAuth"
cert client "extendedKeyUsage=clientAuth"
mkdir -p "$W/client-certs"
cp "$W/ca.pem" "$W/client-certs/ca.pem"
cp "$W/client.pem" "$W/client-certs/cert.pem"
cp "$W/client-key.pem" "$W/client-certs/key.pem"

# --- the engine ------------------------------------------------------------------------------
if docker version >/dev/null 2>&1; then
  log "using the Docker engine that answers already"
  if [[ -n ${PUSHX_TEST_DOCKER_TLS_HOST:-} ]]; then
    export PUSHX_TEST_DOCKER_TLS_HOST PUSHX_TEST_DOCKER_CERT_PATH
  else
    log "no TLS listener of that engine is known: push::a_tls_tcp_daemon_endpoint will not run (set PUSHX_TEST_DOCKER_TLS_HOST=tcp://HOST:PORT and PUSHX_TEST_DOCKER_CERT_PATH=DIR with ca.pem, cert.pem, key.pem)"
  fi
else
  [[ $(id -u) == 0 ]] || die "no Docker engine answers and starting one needs root"
  DPORT=$(free_port)
  if [[ -f /var/run/docker.pid ]] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
    rm -f /var/run/docker.pid
  fi
  log "starting dockerd (unix socket and TLS on 127.0.0.1:$DPORT)"
  dockerd --bridge=none --iptables=false --ip-masq=false \
    -H unix:///var/run/docker.sock -H "tcp://127.0.0.1:$DPORT" \
    --tlsverify --tlscacert "$W/ca.pem" --tlscert "$W/server.pem" --tlskey "$W/server-key.pem" \
    >"$W/dockerd.log" 2>&1 &
  PIDS+=($!)
  wait_for 60 docker version || { tail -n 30 "$W/dockerd.log" >&2; die "dockerd did not come up"; }
  export PUSHX_TEST_DOCKER_TLS_HOST="tcp://127.0.0.1:$DPORT"
  export PUSHX_TEST_DOCKER_CERT_PATH="$W/client-certs"
fi

# --- registries -------------------------------------------------------------------------------
export PUSHX_TEST_USER=pushx
export PUSHX_TEST_PASSWORD='p>?~s?>~w?~>d'
htpasswd -Bbn "$PUSHX_TEST_USER" "$PUSHX_TEST_PASSWORD" > "$W/htpasswd"

registry() { # registry NAME PORT auth(0|1) tls(0|1)
  local cfg="$W/$1.yml"
  {
    printf 'version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n'
    printf 'storage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\n' "$W/$1-data"
    printf 'http:\n  addr: 127.0.0.1:%s\n' "$2"
    if [[ $4 == 1 ]]; then printf '  tls:\n    certificate: %s\n    key: %s\n' "$W/server.pem" "$W/server-key.pem"; fi
    if [[ $3 == 1 ]]; then printf 'auth:\n  htpasswd:\n    realm: pushx-test\n    path: %s\n' "$W/htpasswd"; fi
  } > "$cfg"
  docker-registry serve "$cfg" >"$W/$1.log" 2>&1 &
  PIDS+=($!)
  local scheme=http; [[ $4 == 1 ]] && scheme=https
  wait_for 20 curl -s -o /dev/null --cacert "$W/ca.pem" "$scheme://127.0.0.1:$2/v2/" \
    || { cat "$W/$1.log" >&2; die "registry $1 did not come up"; }
}
P1=$(free_port); registry plain "$P1" 0 0
P2=$(free_port); registry auth "$P2" 1 0
P3=$(free_port); registry tls "$P3" 1 1
# A directory the run makes is removed at its end (the port was free: the name is new).
[[ -d /etc/docker/certs.d ]] || MADE_CERTS_D=1
CERTS_DIR="/etc/docker/certs.d/127.0.0.1:$P3"
mkdir -p "$CERTS_DIR"
cp "$W/ca.pem" "$CERTS_DIR/ca.crt"
export PUSHX_TEST_REGISTRY="127.0.0.1:$P1"
export PUSHX_TEST_AUTH_REGISTRY="127.0.0.1:$P2"
export PUSHX_TEST_TLS_REGISTRY="127.0.0.1:$P3"
export PUSHX_TEST_DOWN_REGISTRY="127.0.0.1:$(free_port)"
export PUSHX_TEST_CA="$W/ca.pem"
export PUSHX_TEST_WORKDIR="$W"
log "registries: plain $P1, auth $P2, tls+auth $P3"

# --- the bearer-token registry ----------------------------------------------------------------
# distribution's token auth: the registry answers 401 with `Bearer realm,service,scope`, clients
# get a JWT from the realm (tests/token-server/token_server.py, which checks the test user's
# Basic credentials, hands out refresh tokens for `docker login` and logs every request), and
# the registry trusts tokens whose x5c certificate is in its rootcertbundle.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=pushx test token signer" \
  -keyout "$W/token-signer-key.pem" -out "$W/token-signer.pem" 2>/dev/null
TOKEN_SERVICE=pushx-test-registry
/usr/bin/python3 "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/token-server/token_server.py" \
  --key "$W/token-signer-key.pem" --cert "$W/token-signer.pem" \
  --issuer pushx-test-token-server --service "$TOKEN_SERVICE" --user "$PUSHX_TEST_USER" \
  --log "$W/token-server.log" --port-file "$W/token-server.port" \
  >"$W/token-server.out" 2>&1 &
PIDS+=($!)
wait_for 20 test -s "$W/token-server.port" \
  || { cat "$W/token-server.out" >&2; die "the token server did not come up"; }
export PUSHX_TEST_TOKEN_REALM="http://127.0.0.1:$(cat "$W/token-server.port")/token"
P4=$(free_port)
{
  printf 'version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n'
  printf 'storage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\n' "$W/token-data"
  printf 'http:\n  addr: 127.0.0.1:%s\n' "$P4"
  printf 'auth:\n  token:\n    realm: %s\n    service: %s\n    issuer: %s\n    rootcertbundle: %s\n' \
    "$PUSHX_TEST_TOKEN_REALM" "$TOKEN_SERVICE" pushx-test-token-server "$W/token-signer.pem"
} > "$W/token.yml"
docker-registry serve "$W/token.yml" >"$W/token.log" 2>&1 &
PIDS+=($!)
wait_for 20 curl -s -o /dev/null "http://127.0.0.1:$P4/v2/" \
  || { cat "$W/token.log" >&2; die "registry token did not come up"; }
export PUSHX_TEST_TOKEN_REGISTRY="127.0.0.1:$P4"
export PUSHX_TEST_TOKEN_SERVICE="$TOKEN_SERVICE"
export PUSHX_TEST_TOKEN_LOG="$W/token-server.log"
log "token registry $P4, its token server $PUSHX_TEST_TOKEN_REALM"

# --- sshd, for ssh:// daemon endpoints ----------------------------------------------------------
# Debian's sshd on a free loopback port, as root, with a host key and client keys made here. Its
# sessions run this machine's docker CLI, so `docker system dial-stdio` reaches the engine above.
# OpenSSH reads ~/.ssh/config from the passwd entry, never from $HOME, and no variable names a
# config file: so the tests put $PUSHX_TEST_SSH_BIN first on PATH, where `ssh` is a two-line
# wrapper that runs /usr/bin/ssh with `-F` this run's client config (the argv docker-pushx builds
# is passed through untouched). Host aliases in that config choose the case:
#   pushx-ok-*        the authorized key              pushx-refused-*   a key sshd does not know
#   pushx-nodocker-*  a key whose commands run with PATH=/nonexistent (no docker on the remote)
#   pushx-unknown-*   an empty known_hosts with strict checking (host key verification fails)
#   127.0.0.1         the authorized key, for ssh://root@127.0.0.1:PORT (-l and -p)
# (IdentityFile adds to a list, so each key is named in one block only.)
# The `*` lets each test use a host name of its own and look for ssh processes left behind.
S="$W/ssh"
mkdir -p "$S/bin" /run/sshd
ssh-keygen -q -t ed25519 -N '' -C pushx-test-host -f "$S/host_key"
for k in ok refused nodocker; do ssh-keygen -q -t ed25519 -N '' -C "pushx-test-$k" -f "$S/$k"; done
{
  cat "$S/ok.pub"
  # The user's shell rc files may set PATH again: the command it runs sets it last.
  printf 'command="PATH=/nonexistent exec /bin/sh -c \\"$SSH_ORIGINAL_COMMAND\\"" %s\n' \
    "$(cat "$S/nodocker.pub")"
} > "$S/authorized_keys"
SSH_PORT=$(free_port)
cat > "$S/sshd_config" <<CONF
Port $SSH_PORT
ListenAddress 127.0.0.1
HostKey $S/host_key
AuthorizedKeysFile $S/authorized_keys
PidFile $S/sshd.pid
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
MaxStartups 200
LogLevel ERROR
CONF
printf '[127.0.0.1]:%s %s\n' "$SSH_PORT" "$(cut -d' ' -f1,2 "$S/host_key.pub")" > "$S/known_hosts"
: > "$S/known_hosts_empty"
cat > "$S/ssh_config" <<CONF
Host pushx-ok-* 127.0.0.1
  IdentityFile $S/ok
Host pushx-refused-*
  IdentityFile $S/refused
Host pushx-nodocker-*
  IdentityFile $S/nodocker
Host pushx-unknown-*
  UserKnownHostsFile $S/known_hosts_empty
Host pushx-*
  HostName 127.0.0.1
  Port $SSH_PORT
  User root
Host *
  IdentitiesOnly yes
  IdentityAgent none
  UserKnownHostsFile $S/known_hosts
  StrictHostKeyChecking yes
  GlobalKnownHostsFile /dev/null
  LogLevel ERROR
CONF
printf '#!/bin/sh\nexec /usr/bin/ssh -F %q "$@"\n' "$S/ssh_config" > "$S/bin/ssh"
chmod 755 "$S/bin/ssh"
/usr/sbin/sshd -f "$S/sshd_config" -D -e >"$S/sshd.log" 2>&1 &
PIDS+=($!)
wait_for 20 "$S/bin/ssh" -o BatchMode=yes pushx-ok-probe true \
  || { cat "$S/sshd.log" >&2; die "sshd did not come up on 127.0.0.1:$SSH_PORT"; }
export PUSHX_TEST_SSH_BIN="$S/bin" PUSHX_TEST_SSH_PORT="$SSH_PORT"
log "sshd on 127.0.0.1:$SSH_PORT (client wrapper $S/bin/ssh)"

# A keyring of the run's own: an existing login keyring with another password would stay locked.
export XDG_DATA_HOME="$W/xdg-data" XDG_STATE_HOME="$W/xdg-state"
mkdir -p "$XDG_DATA_HOME" "$XDG_STATE_HOME"

# in_keyring_session CMD...: run CMD in a D-Bus session with an unlocked Secret Service
# collection and a kernel session keyring, as a desktop login would have.
# `gnome-keyring-daemon --unlock` returns before the daemon it forked owns
# org.freedesktop.secrets; a Secret Service call in that gap makes the bus start a second daemon
# (D-Bus activation, `--start`, no password: its login collection stays locked) and the unlocked
# one gives up the name. So CMD starts only once the name has an owner and its default
# collection is unlocked (asked with NameHasOwner first, which activates nothing), and the same
# is checked again afterwards, to say so if the daemon was replaced during the run.
in_keyring_session() {
  dbus-run-session -- sh -c '
    unlocked() {
      dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
          org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null \
        | grep -q "boolean true" &&
      dbus-send --session --print-reply --dest=org.freedesktop.secrets \
          /org/freedesktop/secrets/aliases/default org.freedesktop.DBus.Properties.Get \
          string:org.freedesktop.Secret.Collection string:Locked 2>/dev/null \
        | grep -q "boolean false"
    }
    printf "pushx-test" | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1
    i=0
    until unlocked; do
      i=$((i + 1))
      if [ "$i" -ge 100 ]; then
        echo "run.sh: the test keyring is not unlocked after 10 s" >&2
        exit 1
      fi
      sleep 0.1
    done
    status=0
    keyctl session - "$@" || status=$?
    unlocked || echo "run.sh: the unlocked test keyring was gone or locked by the end of the run" >&2
    exit "$status"' sh "$@"
}
