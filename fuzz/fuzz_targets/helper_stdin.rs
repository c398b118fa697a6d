//! The credential-helper protocol on raw stdin bytes: the parsers on their own, then the whole
//! `serve` for a verb against an in-memory store.
//!
//! Input: byte 0 chooses the verb (low 3 bits, mod 5) and the store setup (bits 3..5); the rest
//! is the helper's stdin.
#![no_main]

use docker_pushx::helper::serve;
use docker_pushx::protocol::helper::{NOT_FOUND, Verb, parse_server, parse_store};
use docker_pushx::secret::Secret;
use docker_pushx::store::memory::MemoryStore;
use docker_pushx::store::chain::StoreChain;
use docker_pushx::store::{Credential, CredentialStore, StoreError, StoreKind};
use libfuzzer_sys::fuzz_target;

const VERBS: [Verb; 5] = [Verb::Store, Verb::Get, Verb::Erase, Verb::List, Verb::Version];

/// Everything a store holds, secrets included, to tell whether a call changed it.
fn snapshot(m: &MemoryStore) -> Vec<(String, String, String)> {
    m.list()
        .unwrap()
        .into_iter()
        .map(|(server, user)| {
            let c = m.get(&server).unwrap().expect("listed entry is there");
            assert_eq!(c.username, user);
            (server, user, c.secret.expose().to_string())
        })
        .collect()
}

fn call(verb: Verb, input: &[u8], stores: &StoreChain, writes: &StoreChain) -> (i32, String, String) {
    let mut out = Vec::new();
    let mut err = Vec::new();
    // As the helper does: `store` gets the chain opened for writing, the others the read chain.
    let chain = if verb == Verb::Store { writes } else { stores };
    let code = serve(verb, input, chain, chain.warning(), &mut out, &mut err);
    assert!(code == 0 || code == 1, "exit code {code}");
    let out = String::from_utf8(out).expect("stdout is UTF-8");
    let err = String::from_utf8(err).expect("stderr is UTF-8");
    (code, out, err)
}

fn assert_one_line(s: &str, what: &str) {
    assert!(
        s.ends_with('\n') && s.matches('\n').count() == 1,
        "{what}: not one line: {s:?}"
    );
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, input)) = data.split_first() else {
        return;
    };

    // The parsers alone, on the same bytes.
    if let Ok(text) = std::str::from_utf8(input) {
        let _ = Verb::parse(text);
    }
    let stored = parse_store(input);
    if let Ok(c) = &stored {
        assert!(!c.server_url.is_empty() && c.server_url.trim() == c.server_url);
        assert!(!c.username.trim().is_empty());
    }
    let server = parse_server(input);
    if let Ok(k) = &server {
        assert!(!k.is_empty() && k.trim() == k);
        assert!(!k.chars().any(char::is_control));
    }

    let verb = VERBS[usize::from(sel & 7) % VERBS.len()];
    let prefill = sel & 0x08 != 0;
    let write_broken = sel & 0x10 != 0;
    let warn = sel & 0x20 != 0;

    let m = MemoryStore::default();
    if prefill {
        for (server, user, secret) in [
            ("https://index.docker.io/v1/", "hubuser", "hubpass"),
            ("reg.example.com:5000", "alice", "s3cret\n\"'\\"),
            ("https://index.docker.io/v1/access-token", "<token>", "tok"),
        ] {
            m.store(&Credential {
                server: server.into(),
                username: user.into(),
                secret: Secret::new(secret),
            })
            .unwrap();
        }
    }
    let stores = StoreChain::of(vec![Box::new(m.clone())]);
    let mut writes = if write_broken {
        StoreChain::unusable(StoreError::Unavailable {
            store: StoreKind::Keyutils,
            reason: "fuzz".into(),
            fix: "none".into(),
        })
    } else {
        StoreChain::of(vec![Box::new(m.clone())])
    };
    if warn {
        writes = writes.with_warning("the login is kept in a weak store");
    }

    let before = snapshot(&m);
    let (code, out, err) = call(verb, input, &stores, &writes);
    let after = snapshot(&m);

    match verb {
        Verb::Version => {
            assert_eq!(code, 0);
            assert_one_line(&out, "version");
            assert_eq!(before, after);
        }
        Verb::Store => {
            if code == 0 {
                assert!(out.is_empty(), "store success prints nothing: {out:?}");
                if warn {
                    assert_one_line(&err, "store warning");
                } else {
                    assert!(err.is_empty());
                }
                let c = stored.expect("store succeeded, so its input parses");
                // What was stored is what `get` and `erase` find under the same key.
                let (gc, gout, _) = call(Verb::Get, c.server_url.as_bytes(), &stores, &writes);
                assert_eq!(gc, 0, "stored {:?} but get says {gout:?}", c.server_url);
                let v: serde_json::Value = serde_json::from_str(&gout).unwrap();
                assert_eq!(v["ServerURL"].as_str(), Some(c.server_url.as_str()));
                assert_eq!(v["Username"].as_str(), Some(c.username.as_str()));
                assert_eq!(v["Secret"].as_str(), Some(c.secret.expose()));
                let (ec, eout, _) = call(Verb::Erase, c.server_url.as_bytes(), &stores, &writes);
                assert_eq!(ec, 0, "stored {:?} but erase says {eout:?}", c.server_url);
                assert!(m.get(&c.server_url).unwrap().is_none());
            } else {
                assert_one_line(&out, "store failure");
                assert_eq!(before, after, "a failing store changed the store");
                assert!(err.is_empty());
                assert!(stored.is_err() || write_broken);
            }
        }
        Verb::Get => {
            assert_eq!(before, after, "get changed the store");
            assert_one_line(&out, "get");
            if code == 0 {
                let key = server.expect("get succeeded, so its input parses");
                let v: serde_json::Value = serde_json::from_str(&out).expect("get answers JSON");
                let obj = v.as_object().expect("get answers an object");
                assert_eq!(obj.len(), 3);
                assert_eq!(obj["ServerURL"].as_str(), Some(key.as_str()));
                let c = m.get(&key).unwrap().expect("found");
                assert_eq!(obj["Username"].as_str(), Some(c.username.as_str()));
                assert_eq!(obj["Secret"].as_str(), Some(c.secret.expose()));
            } else if let Ok(key) = &server {
                assert_eq!(out.trim_end(), NOT_FOUND);
                assert!(m.get(key).unwrap().is_none());
            }
        }
        Verb::Erase => {
            if code == 0 {
                let key = server.expect("erase succeeded, so its input parses");
                assert!(out.is_empty(), "erase success prints nothing: {out:?}");
                assert!(before.iter().any(|(s, _, _)| *s == key));
                let mut want = before.clone();
                want.retain(|(s, _, _)| *s != key);
                assert_eq!(want, after);
            } else {
                assert_one_line(&out, "erase failure");
                assert_eq!(before, after, "a failing erase changed the store");
            }
        }
        Verb::List => {
            assert_eq!(code, 0);
            assert_eq!(before, after, "list changed the store");
            assert_one_line(&out, "list");
            let v: serde_json::Value = serde_json::from_str(&out).expect("list answers JSON");
            let obj = v.as_object().expect("list answers an object");
            assert_eq!(obj.len(), before.len());
            for (s, u, _) in &before {
                assert_eq!(obj[s].as_str(), Some(u.as_str()));
            }
        }
    }
});
