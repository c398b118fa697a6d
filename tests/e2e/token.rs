//! End-to-end against the bearer-token registry (distribution's `auth: token`, with the token
//! server of tests/token-server/): push with a password login and with an identity token,
//! `docker pushx login` keeping the identity token the registry hands out, a wrong password,
//! and plain `docker login`/`push`/`pull` through `docker-credential-pushx`.

use crate::common::token::{CLIENT_ID, get_token, post_token, requests_for};
use crate::common::*;
use std::path::Path;
use std::process::Command;

/// PATH with the built docker-credential-pushx first, as after install.sh.
fn path_with_helper() -> String {
    let dir = Path::new(HELPER).parent().unwrap();
    format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// What the keyring holds for `server` (through the helper): (user name, secret).
fn stored(server: &str) -> Option<(String, String)> {
    let r = run_with_stdin(Command::new(HELPER).arg("get"), Some(server.as_bytes()));
    if r.code != 0 {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(&r.stdout).ok()?;
    Some((
        v["Username"].as_str()?.to_string(),
        v["Secret"].as_str()?.to_string(),
    ))
}

/// An identity token is the token server's: a `refresh_token` grant with it is accepted for
/// the test user.
fn assert_is_a_refresh_token_of_the_test_user(secret: &str) {
    let reply = post_token(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", secret),
        (
            "service",
            &std::env::var("PUSHX_TEST_TOKEN_SERVICE").unwrap(),
        ),
        ("client_id", CLIENT_ID),
    ]);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.token().is_some(), "{}", reply.body);
}

/// The token requests made for `repo` all got a token, and each was of this kind: a password
/// (`GET` with Basic credentials) or an identity token (`POST` `grant_type=refresh_token`).
fn assert_token_requests(repo: &str, identity_token: bool) {
    let seen = requests_for(repo);
    assert!(!seen.is_empty(), "no token request named {repo}");
    for r in &seen {
        assert_eq!(r["status"], 200, "{r}");
        assert_eq!(r["account"], user(), "{r}");
        if identity_token {
            assert_eq!(
                (&r["method"], &r["grant_type"]),
                (&"POST".into(), &"refresh_token".into()),
                "{r}"
            );
        } else {
            assert_eq!(r["method"], "GET", "{r}");
        }
    }
}

#[test]
fn push_with_a_password_login_and_every_verify_mode() {
    let reg = need!("PUSHX_TEST_TOKEN_REGISTRY");
    for verify in ["none", "digest", "pull"] {
        let pushed = Scenario::new()
            .login(&reg)
            .random_image(3_000)
            .push_to(&reg, &["--verify", verify]);
        pushed.assert_landed();
        let t = pushed.target(0);
        assert_eq!(t["credential_source"], "docker-config");
        assert_eq!(t["verification"]["mode"], verify, "{:?}", pushed.run);
        let ok = if verify == "none" {
            serde_json::Value::Null
        } else {
            true.into()
        };
        assert_eq!(t["verification"]["ok"], ok, "{:?}", pushed.run);
        assert_token_requests(&pushed.repo, false);
    }
}

#[test]
fn a_wrong_password_or_no_login_exits_3() {
    let reg = need!("PUSHX_TEST_TOKEN_REGISTRY");
    use base64::Engine;
    let wrong = base64::engine::general_purpose::STANDARD.encode(format!("{}:wrong", user()));
    let s = Scenario::new()
        .config_json(serde_json::json!({"auths": {&reg: {"auth": wrong}}}))
        .random_image(1_000);
    let pushed = s.push_to(&reg, &[]);
    pushed.expect(3);
    assert_eq!(pushed.target(0)["status"], "failed", "{:?}", pushed.run);
    assert_eq!(
        pushed.target(0)["attempts"],
        1,
        "never retried: {:?}",
        pushed.run
    );
    let seen = requests_for(&pushed.repo);
    assert!(
        !seen.is_empty() && seen.iter().all(|r| r["status"] == 401),
        "the token server refused every request: {seen:?}"
    );
    assert!(pushed.held("1").is_none(), "nothing landed");

    // Anonymous: the token server hands out a token that grants nothing.
    let pushed = Scenario::with_config(Config::new())
        .source(s.image_name())
        .push_to(&reg, &[]);
    pushed.expect(3);
    assert_eq!(pushed.target(0)["credential_source"], "anonymous");
    let seen = requests_for(&pushed.repo);
    assert!(
        !seen.is_empty()
            && seen
                .iter()
                .all(|r| r["anonymous"] == true && r["granted"] == serde_json::json!([])),
        "{seen:?}"
    );
}

/// `docker pushx login` keeps the identity token (as `<token>`), never prints it, pushes and
/// verifies with it; then plain `docker login`, `push` and `pull` through the helper. One test:
/// both log in under the same key (`localhost:PORT`, which no other test uses) in the keyring
/// the whole run shares.
#[test]
fn logins_keep_the_identity_token_the_registry_hands_out() {
    let reg = need!("PUSHX_TEST_TOKEN_REGISTRY");
    need!("PUSHX_TEST_SECRET_SERVICE");
    let host = reg.replace("127.0.0.1", "localhost");
    pushx_login_push_logout(&host);
    docker_login_push_pull_through_the_helper(&host);
}

fn pushx_login_push_logout(host: &str) {
    let cfg = Config::new();
    // Traced when it succeeds (the trace must not hold the secrets either); a refusal is one
    // line of error.
    let login = |password: &str, log: &str| {
        run_with_stdin(
            cfg.pushx().env("RUST_LOG", log).args([
                "login",
                host,
                "-u",
                &user(),
                "--password-stdin",
            ]),
            Some(password.as_bytes()),
        )
    };
    let r = login("not-the-password", "off");
    assert_eq!(r.code, 3, "{r:?}");
    assert_one_line_error(&r);
    assert!(!r.stderr.contains("not-the-password"), "{r:?}");
    assert_eq!(stored(host), None, "a refused login stores nothing");

    let r = login(&password(), "trace");
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("Login Succeeded"), "{r:?}");
    let (username, secret) = stored(host).expect("the login is in the keyring");
    assert_eq!(
        username, "<token>",
        "the identity token is kept, not the password"
    );
    assert_ne!(secret, password());
    assert_is_a_refresh_token_of_the_test_user(&secret);
    let secrets = Secrets::new()
        .password(&user(), &password(), host)
        .identity_token(&secret, host);
    let mut found = secrets.find_in_run("docker pushx login", &r);
    found.extend(secrets.find_in_dir(cfg.path()));
    secrets.assert_none(&found);
    assert!(!cfg.file().exists(), "login writes nothing to config.json");

    let s = Scenario::with_config(cfg)
        .env("RUST_LOG", "trace")
        .random_image(2_000);
    for verify in ["digest", "pull"] {
        let pushed = s.push_to(host, &["--verify", verify]);
        pushed.assert_landed();
        let t = pushed.target(0);
        assert_eq!(t["credential_source"], "keyring:secret-service");
        assert_eq!(t["verification"]["ok"], true, "{:?}", pushed.run);
        assert_token_requests(&pushed.repo, true);
        let mut found = secrets.find_in_run("docker pushx", &pushed.run);
        found.extend(secrets.find_in_dir(s.config().path()));
        secrets.assert_none(&found);
    }

    let r = run(s.config().pushx().args(["logout", host]));
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(stored(host), None, "logged out");
}

fn docker_login_push_pull_through_the_helper(host: &str) {
    let cfg = Config::new();
    let r =
        run(cfg
            .pushx()
            .env("PATH", path_with_helper())
            .args(["configure", "--registry", host]));
    assert_eq!(r.code, 0, "{r:?}");
    let r = run_with_stdin(
        cfg.docker().env("PATH", path_with_helper()).args([
            "login",
            host,
            "-u",
            &user(),
            "--password-stdin",
        ]),
        Some(password().as_bytes()),
    );
    assert_eq!(r.code, 0, "docker login through the helper: {r:?}");
    let (username, secret) = stored(host).expect("docker login stored through the helper");
    assert_eq!(username, "<token>", "docker keeps the identity token");
    assert_is_a_refresh_token_of_the_test_user(&secret);
    let secrets = Secrets::new()
        .password(&user(), &password(), host)
        .identity_token(&secret, host);
    let mut found = secrets.find_in_run("docker login", &r);
    found.extend(secrets.find_in_dir(cfg.path()));
    secrets.assert_none(&found);

    let src = unique("pushx-token-docker");
    build_image(&format!("{src}:1"), &[("f", &random_bytes(2_000))]);
    let repo = unique("e2e/token-docker");
    let name = format!("{host}/{repo}:1");
    assert_eq!(
        run(Command::new("docker").args(["tag", &format!("{src}:1"), &name])).code,
        0
    );
    let docker = |args: &[&str]| run(cfg.docker().env("PATH", path_with_helper()).args(args));
    let r = docker(&["push", &name]);
    assert_eq!(r.code, 0, "docker push with the helper's login: {r:?}");
    assert_eq!(
        held_digest(host, &repo, "1"),
        Some(pushed_digest(&r)),
        "{r:?}"
    );
    let r = docker(&["pull", &name]);
    assert_eq!(r.code, 0, "docker pull: {r:?}");
    assert_token_requests(&repo, true);
    // docker pushx finds the same login.
    let r = docker(&["pushx", "--format", "json", "--verify", "pull", &name]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        r.json()["targets"][0]["credential_source"],
        "keyring:secret-service"
    );
    secrets.assert_none(&secrets.find_in_run("docker pushx", &r));

    let r = docker(&["logout", host]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(stored(host), None, "logged out");
}

/// The digest `docker push` reported (its `TAG: digest: sha256:… size: N` line).
fn pushed_digest(r: &Run) -> String {
    r.stdout
        .split_whitespace()
        .skip_while(|w| *w != "digest:")
        .nth(1)
        .unwrap_or_else(|| panic!("no digest in docker push's output: {r:?}"))
        .to_string()
}

/// The harness's token server speaks the spec: if it did not, every test above would prove
/// less than it claims.
#[test]
fn the_token_server_follows_the_spec() {
    need!("PUSHX_TEST_TOKEN_REGISTRY");
    let service = std::env::var("PUSHX_TEST_TOKEN_SERVICE").unwrap();
    let scope = format!("repository:{}:pull,push", unique("e2e/token-self"));
    let (u, p) = (user(), password());

    // GET with Basic credentials: every scope asked is granted; a JWT with the claims the
    // registry checks.
    let reply = get_token(&[&scope], Some((&u, &p)), false);
    let token = reply.token().expect("a token");
    assert_eq!(reply.body["access_token"], token.as_str());
    assert!(reply.body["expires_in"].as_u64().unwrap() >= 60);
    assert!(reply.body["issued_at"].is_string());
    assert!(reply.body.get("refresh_token").is_none(), "not asked for");
    let part = |i: usize| -> serde_json::Value {
        use base64::Engine;
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.split('.').nth(i).unwrap())
            .unwrap();
        serde_json::from_slice(&raw).unwrap()
    };
    let (header, claims) = (part(0), part(1));
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["x5c"].as_array().map(Vec::len), Some(1));
    assert_eq!(claims["aud"], service.as_str(), "aud is a string");
    assert_eq!(claims["sub"], u.as_str());
    for c in ["iss", "exp", "nbf", "iat", "jti"] {
        assert!(!claims[c].is_null(), "{c} in {claims}");
    }
    let (name, actions) = scope["repository:".len()..].rsplit_once(':').unwrap();
    assert_eq!(
        claims["access"],
        serde_json::json!([{"type": "repository", "name": name, "actions": actions.split(',').collect::<Vec<_>>()}])
    );

    // A wrong password is refused; anonymous gets a token granting nothing.
    assert_eq!(get_token(&[&scope], Some((&u, "wrong")), false).status, 401);
    let anon = get_token(&[&scope], None, false);
    assert!(anon.token().is_some(), "{}", anon.body);
    let refresh = get_token(&[], Some((&u, &p)), true);
    let refresh = refresh.body["refresh_token"]
        .as_str()
        .expect("offline_token=true gives a refresh token")
        .to_string();

    // POST: the password and refresh-token grants, and what they refuse.
    let post = |extra: &[(&str, &str)]| {
        let mut form = vec![
            ("service", service.as_str()),
            ("client_id", CLIENT_ID),
            ("scope", scope.as_str()),
        ];
        form.extend_from_slice(extra);
        post_token(&form)
    };
    let ok = post(&[
        ("grant_type", "password"),
        ("username", &u),
        ("password", &p),
    ]);
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert!(ok.body["access_token"].is_string() && ok.body["scope"] == scope.as_str());
    let ok = post(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)]);
    assert_eq!(ok.status, 200, "{}", ok.body);
    let refused = [
        post(&[
            ("grant_type", "password"),
            ("username", &u),
            ("password", "wrong"),
        ])
        .status,
        post(&[("grant_type", "refresh_token"), ("refresh_token", "nope")]).status,
        post(&[("grant_type", "implicit")]).status,
        post_token(&[("grant_type", "password"), ("service", &service)]).status,
    ];
    assert_eq!(refused, [401, 401, 400, 400]);

    // The log names what was asked, never a secret.
    let log = std::fs::read_to_string(std::env::var("PUSHX_TEST_TOKEN_LOG").unwrap()).unwrap();
    assert!(log.contains(&scope));
    for secret in [p.as_str(), token.as_str(), refresh.as_str()] {
        assert!(!log.contains(secret), "a secret in the token server's log");
    }
}
