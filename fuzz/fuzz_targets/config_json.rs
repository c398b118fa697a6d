//! docker's config.json: `DockerConfig::parse` and every reader on what it accepts; `decode_auth`,
//! `login_key` and `convert_to_hostname` on the same bytes as a string.
#![no_main]

use docker_pushx::protocol::config::{
    DOCKER_HUB_KEY, DockerConfig, convert_to_hostname, decode_auth, encode_auth, login_key,
};
use libfuzzer_sys::fuzz_target;

fn check_string(s: &str) {
    if let Ok((user, pass)) = decode_auth(s) {
        assert!(!user.is_empty() && !user.contains(':'), "{user:?}");
        assert!(!pass.expose().ends_with('\0'));
        // encode then decode gives the same login back.
        let again = encode_auth(&user, &pass);
        let (u2, p2) = decode_auth(again.expose()).expect("encode_auth output decodes");
        assert_eq!((u2.as_str(), p2.expose()), (user.as_str(), pass.expose()));
    }
    let key = login_key(s);
    assert!(!key.is_empty());
    assert!(key == DOCKER_HUB_KEY || !key.contains('/'), "{s:?} -> {key:?}");
    let host = convert_to_hostname(s);
    assert!(!host.contains('/'));
}

fuzz_target!(|data: &[u8]| {
    check_string(&String::from_utf8_lossy(data));

    let Ok(c) = DockerConfig::parse(data) else {
        return;
    };
    let _ = c.current_context();
    let _ = c.creds_store();
    let _ = c.helper_for("x");
    let _ = c.helper_for(DOCKER_HUB_KEY);
    if let Some(serde_json::Value::Object(helpers)) = c.doc.get("credHelpers") {
        for k in helpers.keys() {
            let _ = c.cred_helper(k);
            let _ = c.helper_for(k);
        }
    }

    let plain = c.plaintext_logins();
    if let Some(serde_json::Value::Object(auths)) = c.doc.get("auths") {
        for (k, v) in auths {
            check_string(k);
            let entry = c.auth_entry(k);
            match &entry {
                Ok(Some(e)) => {
                    assert!(e.password.is_some() || e.identity_token.is_some());
                }
                Ok(None) => {}
                Err(e) => assert!(!e.to_string().is_empty()),
            }
            // A key carries a plain-text secret exactly when auth_entry does not call it empty.
            assert_eq!(
                plain.contains(k),
                !matches!(entry, Ok(None)),
                "{k:?}: {v}"
            );
            let _ = c.auth_entry(convert_to_hostname(k));
            let _ = c.auth_entry(&login_key(k));
        }
    } else {
        assert!(plain.is_empty());
    }
});
