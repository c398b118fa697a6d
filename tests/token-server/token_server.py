#!/usr/bin/python3
"""A bearer-token server for the test registry (distribution's token auth, docs/spec/auth/).

tests/env.sh starts it beside a `docker-registry` configured with `auth: token`. It speaks what
docker and the engine speak to a realm:

- `GET  /token?service=S&scope=…[&offline_token=true&client_id=…]` with Basic credentials, or
  without (anonymous: a token granting nothing) — docs/spec/auth/token.md;
- `POST /token` form `grant_type=password` (`username`, `password`) or `grant_type=refresh_token`
  (`refresh_token`), with `service`, `client_id`, `scope`, `access_type` — docs/spec/auth/oauth.md.

Tokens are JWTs signed RS256 whose `x5c` header carries the signing certificate, which env.sh
also gives the registry as its `rootcertbundle`; `aud` is the registry's service as a *string*
(distribution 2.8 refuses a list). The test user is granted every scope asked. A refresh token
(asked with `offline_token=true` or `access_type=offline`) is what `docker login` keeps as the
identity token.

Each request is logged to --log as one JSON line (method, path, grant type, scopes, service,
account, status): never a password or a token. The password is read from the environment
(PUSHX_TEST_PASSWORD), never from argv. Only Debian's python3-jwt and python3-cryptography are
needed.
"""

import argparse
import base64
import datetime
import json
import os
import secrets
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

EXPIRES_IN = 300  # seconds; the engine treats anything under 60 as 60


def parse_scopes(values):
    """`type:name:actions` scopes, several per value (space-separated, as in the POST form).

    A repository name may hold a `:` (a registry host with a port is not part of it, but be
    lenient), so the type is before the first colon and the actions after the last.
    """
    access = []
    for value in values:
        for scope in value.split():
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            if not kind or not name:
                continue
            access.append({
                "type": kind,
                "name": name,
                "actions": [a for a in actions.split(",") if a],
            })
    return access


class TokenServer:
    def __init__(self, args):
        with open(args.key, "rb") as f:
            self.key = f.read()
        with open(args.cert, "rb") as f:
            cert = x509.load_pem_x509_certificate(f.read())
        self.x5c = [base64.b64encode(cert.public_bytes(Encoding.DER)).decode()]
        self.issuer = args.issuer
        self.service = args.service
        self.user = args.user
        self.password = os.environ.get("PUSHX_TEST_PASSWORD", "")
        if not self.password:
            sys.exit("token_server: PUSHX_TEST_PASSWORD is not set")
        self.log_path = args.log
        self.lock = threading.Lock()
        self.refresh = {}  # refresh token -> (subject, service)

    def check_user(self, username, password):
        return (secrets.compare_digest(username.encode(), self.user.encode())
                and secrets.compare_digest(password.encode(), self.password.encode()))

    def new_refresh_token(self, subject, service):
        token = secrets.token_urlsafe(32)
        with self.lock:
            self.refresh[token] = (subject, service)
        return token

    def lookup_refresh_token(self, token):
        with self.lock:
            return self.refresh.get(token)

    def jwt(self, subject, access):
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": self.service,
            "exp": now + EXPIRES_IN,
            "nbf": now - 1,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        return jwt.encode(claims, self.key, algorithm="RS256",
                          headers={"typ": "JWT", "x5c": self.x5c})

    def log(self, entry):
        line = json.dumps(entry, sort_keys=True)
        with self.lock, open(self.log_path, "a") as f:
            f.write(line + "\n")


def make_handler(server):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass  # the JSON log below is the record

        def answer(self, status, body, entry, extra_headers=()):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in extra_headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
            entry["status"] = status
            server.log(entry)

        def error(self, status, code, message, entry, challenge=False):
            headers = [("WWW-Authenticate", 'Basic realm="pushx-test-token"')] if challenge else []
            entry["error"] = message
            self.answer(status, {"errors": [{"code": code, "message": message}]}, entry, headers)

        def issue(self, subject, service, access, entry, refresh_token=None, post=False):
            token = server.jwt(subject, access)
            body = {
                "token": token,
                "access_token": token,
                "expires_in": EXPIRES_IN,
                "issued_at": datetime.datetime.now(datetime.timezone.utc)
                .isoformat(timespec="seconds").replace("+00:00", "Z"),
            }
            if post:
                del body["token"]  # oauth.md: the POST response has access_token only
                body["scope"] = " ".join(
                    f'{a["type"]}:{a["name"]}:{",".join(a["actions"])}' for a in access)
            if refresh_token:
                body["refresh_token"] = refresh_token
            entry["account"] = subject
            entry["granted"] = [f'{a["type"]}:{a["name"]}:{",".join(a["actions"])}' for a in access]
            entry["refresh_token_returned"] = bool(refresh_token)
            self.answer(200, body, entry)

        def basic_credentials(self):
            header = self.headers.get("Authorization", "")
            if not header.lower().startswith("basic "):
                return None
            try:
                raw = base64.b64decode(header[6:].strip(), validate=True).decode()
            except (ValueError, UnicodeDecodeError):
                return ("", "")
            username, _, password = raw.partition(":")
            return (username, password)

        def do_GET(self):
            url = urlsplit(self.path)
            q = parse_qs(url.query)
            service = q.get("service", [""])[0]
            scopes = q.get("scope", [])
            offline = q.get("offline_token", [""])[0].lower() in ("true", "1")
            entry = {"method": "GET", "path": url.path, "grant_type": None, "scope": scopes,
                     "service": service, "offline_token": offline,
                     "client_id": q.get("client_id", [None])[0]}
            if url.path != "/token":
                return self.error(404, "NOT_FOUND", "no such path", entry)
            if service != server.service:
                return self.error(400, "UNSUPPORTED", "unknown service", entry)
            creds = self.basic_credentials()
            if creds is None:
                # Anonymous: a valid token that grants nothing.
                entry["anonymous"] = True
                return self.issue("", service, [], entry)
            username, password = creds
            entry["account"] = username
            if not server.check_user(username, password):
                return self.error(401, "UNAUTHORIZED", "invalid credentials", entry, challenge=True)
            refresh = server.new_refresh_token(username, service) if offline else None
            self.issue(username, service, parse_scopes(scopes), entry, refresh_token=refresh)

        def do_POST(self):
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            form = parse_qs(self.rfile.read(length).decode("utf-8", "replace"))
            get = lambda k: form.get(k, [""])[0]
            grant = get("grant_type")
            service = get("service")
            scopes = form.get("scope", [])
            entry = {"method": "POST", "path": url.path, "grant_type": grant or None,
                     "scope": scopes, "service": service,
                     "access_type": get("access_type") or None,
                     "client_id": get("client_id") or None}
            if url.path != "/token":
                return self.error(404, "NOT_FOUND", "no such path", entry)
            if not grant:
                return self.error(400, "UNSUPPORTED", "missing grant_type", entry)
            if service != server.service:
                return self.error(400, "UNSUPPORTED", "missing or unknown service", entry)
            if not get("client_id"):
                return self.error(400, "UNSUPPORTED", "missing client_id", entry)
            if get("access_type") not in ("", "online", "offline"):
                return self.error(400, "UNSUPPORTED", "unknown access_type", entry)
            refresh = None
            if grant == "password":
                subject = get("username")
                entry["account"] = subject
                if not server.check_user(subject, get("password")):
                    return self.error(401, "UNAUTHORIZED", "invalid credentials", entry)
            elif grant == "refresh_token":
                refresh = get("refresh_token")
                held = server.lookup_refresh_token(refresh)
                if held is None or held[1] != service:
                    return self.error(401, "UNAUTHORIZED", "invalid refresh token", entry)
                subject = held[0]
            else:
                return self.error(400, "UNSUPPORTED", "unknown grant_type", entry)
            if get("access_type") == "offline":
                refresh = server.new_refresh_token(subject, service)
            self.issue(subject, service, parse_scopes(scopes), entry,
                       refresh_token=refresh, post=True)

    return Handler


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--key", required=True, help="PEM private key (RSA) that signs the tokens")
    p.add_argument("--cert", required=True, help="PEM certificate of that key (the x5c header)")
    p.add_argument("--issuer", required=True)
    p.add_argument("--service", required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--log", required=True, help="request log, one JSON line per request")
    p.add_argument("--port-file", required=True, help="written with the port once listening")
    args = p.parse_args()
    server = TokenServer(args)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(server))
    httpd.daemon_threads = True
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(httpd.server_address[1]))
    os.replace(tmp, args.port_file)
    httpd.serve_forever()


if __name__ == "__main__":
    main()
