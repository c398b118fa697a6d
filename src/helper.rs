//! `docker-credential-pushx`: the credential-helper protocol served from pushx's keyring stores.
//! Everything the CLI reads goes to stdout (errors too, with exit 1), as docker expects.

use crate::credentials::keyring;
use crate::protocol::helper::{self as proto, Verb};
use crate::store::chain::Purpose;
use crate::store::{Credential, CredentialStore};
use std::io::{Read, Write};

const NAME: &str = "docker-credential-pushx";

/// The purpose a verb opens the stores for: `store` writes into the chosen store, the others
/// read (and erase) across every store.
pub fn purpose(verb: Verb) -> Purpose {
    if verb == Verb::Store {
        Purpose::Write
    } else {
        Purpose::Read
    }
}

/// The helper's whole life: returns the process exit code.
pub fn main() -> i32 {
    let mut out = std::io::stdout().lock();
    // Like every other usage error, a bad argument is answered on stdout with exit 1.
    let args = match crate::protocol::args::utf8(std::env::args_os().skip(1)) {
        Ok(args) => args,
        Err(e) => return answer(&mut out, &format!("{NAME}: {e}"), 1),
    };
    let usage = format!("Usage: {NAME} <store|get|erase|list|version>\n");
    let verb = match args.as_slice() {
        [a] if a == "--help" || a == "-h" => {
            let _ = out.write_all(usage.as_bytes());
            return 0;
        }
        [a] => match Verb::parse(a) {
            Some(v) => v,
            None => return answer(&mut out, &format!("{NAME}: unknown action: {a}"), 1),
        },
        _ => return answer(&mut out, usage.trim_end(), 1),
    };
    if verb == Verb::Version {
        return answer(
            &mut out,
            &format!("{NAME} (docker-pushx) {}", env!("CARGO_PKG_VERSION")),
            0,
        );
    }
    // The stores open (D-Bus connections, key exchange) while the request is read.
    let opening = keyring::choice(None).map(|choice| keyring::start(choice, purpose(verb)));
    let mut input = Vec::new();
    let limit = proto::MAX_INPUT as u64 + 1;
    if verb != Verb::List
        && let Err(e) = std::io::stdin().lock().take(limit).read_to_end(&mut input)
    {
        return answer(&mut out, &format!("reading the request: {e}"), 1);
    }
    if input.len() > proto::MAX_INPUT {
        return answer(
            &mut out,
            &format!("the request is larger than {} KiB", proto::MAX_INPUT / 1024),
            1,
        );
    }
    let stores = match opening {
        Ok(opening) => opening.finish(),
        Err(e) => return answer(&mut out, &e.message, 1),
    };
    let code = serve(
        verb,
        &input,
        &stores,
        stores.warning(),
        &mut out,
        &mut std::io::stderr().lock(),
    );
    // The process exits now: closing connections and stopping threads first only costs time.
    std::mem::forget(stores);
    code
}

fn answer(out: &mut dyn Write, text: &str, code: i32) -> i32 {
    let _ = writeln!(out, "{text}").and_then(|_| out.flush());
    code
}

/// Run one verb against `store` (the chain of pushx's stores, or any one store): the
/// protocol's logic, with no process globals. `warning` goes to `err` once a login is stored.
pub fn serve(
    verb: Verb,
    input: &[u8],
    store: &dyn CredentialStore,
    warning: Option<&str>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let failed = |out: &mut dyn Write, e: crate::store::StoreError| {
        answer(out, &crate::error::one_line(&e.to_string()), 1)
    };
    match verb {
        Verb::Version => answer(
            out,
            &format!("{NAME} (docker-pushx) {}", env!("CARGO_PKG_VERSION")),
            0,
        ),
        Verb::Store => {
            let creds = match proto::parse_store(input) {
                Ok(c) => c,
                Err(e) => return answer(out, &e, 1),
            };
            let cred = Credential {
                server: creds.server_url,
                username: creds.username,
                secret: creds.secret,
            };
            match store.store(&cred) {
                Ok(()) => {
                    if let Some(w) = warning {
                        let _ = writeln!(err, "{NAME}: warning: {w}");
                    }
                    0
                }
                Err(e) => failed(out, e),
            }
        }
        Verb::Get => {
            let key = match proto::parse_server(input) {
                Ok(k) => k,
                Err(e) => return answer(out, &e, 1),
            };
            match store.get(&key) {
                Ok(Some(c)) => {
                    let a = proto::get_answer(&key, &c.username, &c.secret);
                    let _ = out
                        .write_all(a.expose().as_bytes())
                        .and_then(|_| out.flush());
                    0
                }
                Ok(None) => answer(out, proto::NOT_FOUND, 1),
                Err(e) => failed(out, e),
            }
        }
        Verb::Erase => {
            let key = match proto::parse_server(input) {
                Ok(k) => k,
                Err(e) => return answer(out, &e, 1),
            };
            match store.erase(&key) {
                Ok(true) => 0,
                Ok(false) => answer(out, proto::NOT_FOUND, 1),
                Err(e) => failed(out, e),
            }
        }
        Verb::List => match store.list() {
            Ok(all) => {
                let _ = out
                    .write_all(proto::list_answer(&all).as_bytes())
                    .and_then(|_| out.flush());
                0
            }
            Err(e) => failed(out, e),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::chain::StoreChain;
    use crate::store::memory::MemoryStore;
    use crate::store::{StoreError, StoreKind};

    fn stores(m: &MemoryStore) -> StoreChain {
        StoreChain::of(vec![Box::new(m.clone())])
    }

    fn call(verb: Verb, input: &str, s: &StoreChain) -> (i32, String) {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let code = serve(verb, input.as_bytes(), s, s.warning(), &mut out, &mut err);
        (code, String::from_utf8(out).unwrap())
    }

    #[test]
    fn store_get_list_erase() {
        let m = MemoryStore::default();
        let s = stores(&m);
        let (c, o) = call(
            Verb::Store,
            r#"{"ServerURL":"https://index.docker.io/v1/","Username":"u","Secret":"p>?~"}"#,
            &s,
        );
        assert_eq!((c, o.as_str()), (0, ""));
        let (c, o) = call(Verb::Get, "https://index.docker.io/v1/", &s);
        assert_eq!(c, 0);
        let v: serde_json::Value = serde_json::from_str(&o).unwrap();
        assert_eq!(
            (
                v["ServerURL"].as_str(),
                v["Username"].as_str(),
                v["Secret"].as_str()
            ),
            (Some("https://index.docker.io/v1/"), Some("u"), Some("p>?~"))
        );
        assert_eq!(
            call(Verb::List, "unused", &s),
            (0, "{\"https://index.docker.io/v1/\":\"u\"}\n".into())
        );
        assert_eq!(call(Verb::Erase, "https://index.docker.io/v1/", &s).0, 0);
        assert_eq!(
            call(Verb::Get, "https://index.docker.io/v1/", &s),
            (1, format!("{}\n", proto::NOT_FOUND))
        );
        assert_eq!(
            call(Verb::Erase, "https://index.docker.io/v1/", &s),
            (1, format!("{}\n", proto::NOT_FOUND))
        );
    }

    #[test]
    fn keys_are_verbatim_and_tokens_kept() {
        let m = MemoryStore::default();
        let s = stores(&m);
        call(
            Verb::Store,
            r#"{"ServerURL":"https://index.docker.io/v1/access-token","Username":"<token>","Secret":"t"}"#,
            &s,
        );
        assert_eq!(call(Verb::Get, "https://index.docker.io/v1/", &s).0, 1);
        let (c, o) = call(Verb::Get, "https://index.docker.io/v1/access-token", &s);
        assert_eq!(c, 0);
        assert!(o.contains("\"Username\":\"<token>\""));
    }

    #[test]
    fn bad_requests_store_nothing() {
        let m = MemoryStore::default();
        let s = stores(&m);
        let big = "x".repeat(100_000);
        for (verb, input, want) in [
            (Verb::Store, "", None),
            (Verb::Store, "garbage", None),
            (
                Verb::Store,
                r#"{"ServerURL":"","Username":"u","Secret":"s"}"#,
                Some(proto::NO_SERVER_URL),
            ),
            (
                Verb::Store,
                r#"{"ServerURL":"r","Username":"","Secret":"s"}"#,
                Some(proto::NO_USERNAME),
            ),
            (Verb::Get, "", Some(proto::NO_SERVER_URL)),
            (Verb::Erase, "  \n", Some(proto::NO_SERVER_URL)),
            (Verb::Store, big.as_str(), None),
        ] {
            let (c, o) = call(verb, input, &s);
            assert_eq!(c, 1, "{verb:?} {input:.20}");
            assert_eq!(o.lines().count(), 1, "one line: {o}");
            if let Some(w) = want {
                assert_eq!(o.trim(), w);
            }
        }
        assert_eq!(call(Verb::List, "unused", &s).1, "{}\n");
    }

    #[test]
    fn no_usable_store() {
        let s = StoreChain::unusable(StoreError::Unavailable {
            store: StoreKind::Keyutils,
            reason: "x".into(),
            fix: "y".into(),
        });
        assert_eq!(
            call(Verb::Get, "r", &s),
            (1, format!("{}\n", proto::NOT_FOUND))
        );
        let (c, o) = call(
            Verb::Store,
            r#"{"ServerURL":"r","Username":"u","Secret":"s"}"#,
            &s,
        );
        assert_eq!((c, o.trim()), (1, "keyutils is not usable: x; y"));
        assert_eq!(call(Verb::List, "", &s), (0, "{}\n".into()));
    }
}
