//! `Reference::parse` on arbitrary UTF-8, with the round trip the module guarantees: the Display
//! form of an accepted reference re-parses to the same reference with `explicit_domain` set.
#![no_main]

use docker_pushx::protocol::reference::{
    NAME_TOTAL_LENGTH_MAX, Reference, looks_like_image_id, validate_tag,
};
use libfuzzer_sys::fuzz_target;

fn check_round_trip(r: &Reference, what: &str) {
    let shown = r.to_string();
    let again = Reference::parse(&shown)
        .unwrap_or_else(|e| panic!("{what}: {r:?} displays as {shown:?}, which is refused: {e}"));
    assert!(again.explicit_domain, "{shown:?}");
    assert_eq!(
        again,
        Reference {
            explicit_domain: true,
            ..r.clone()
        },
        "{what}: {shown:?}"
    );
    assert_eq!(again.to_string(), shown, "Display is stable");
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };

    let tag_ok = validate_tag(s).is_ok();
    if let Err(e) = validate_tag(s) {
        let msg = e.to_string();
        assert!(!msg.contains('\n'), "{msg:?}");
        assert!(msg.starts_with("invalid tag "), "{msg:?}");
    }
    let _ = looks_like_image_id(s);

    let parsed = Reference::parse(s);
    assert_eq!(parsed, s.parse::<Reference>(), "FromStr is parse");
    match parsed {
        Ok(r) => {
            check_round_trip(&r, "parse");
            assert!(r.name().len() <= NAME_TOTAL_LENGTH_MAX, "{r:?}");
            if let Some(tag) = &r.tag {
                assert!(validate_tag(tag).is_ok(), "{r:?}");
            }

            let _ = r.familiar_name();
            let _ = r.familiar_string();
            let _ = r.tag_or_latest();
            let key = r.auth_key();
            assert!(!key.is_empty());

            let t = r.with_tag("x").expect("\"x\" is a valid tag");
            assert_eq!(t.tag.as_deref(), Some("x"));
            assert_eq!(t.digest, None);
            assert_eq!((&t.domain, &t.path), (&r.domain, &r.path));
            check_round_trip(&t, "with_tag(\"x\")");

            // The input itself as a tag: accepted exactly when validate_tag accepts it.
            match r.with_tag(s) {
                Ok(t) => {
                    assert!(tag_ok);
                    check_round_trip(&t, "with_tag(input)");
                }
                Err(_) => assert!(!tag_ok),
            }
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(!msg.contains('\n'), "{msg:?}");
            assert!(msg.starts_with("invalid reference "), "{msg:?}");
        }
    }
});
