//! End-to-end up-to-date skips: a second identical run finds every tag already holding the
//! image (config and blobs present, asked of the registry itself) and pushes nothing, counted
//! at a proxy between the engine and the registry; `--force` pushes again; the tags made to
//! push are removed either way.

use crate::common::proxy::{FaultProxy, Kind};
use crate::common::*;

fn exists_locally(name: &str) -> bool {
    let r =
        run(std::process::Command::new("docker").args(["image", "inspect", "-f", "{{.Id}}", name]));
    r.code == 0
}

fn statuses(doc: &serde_json::Value) -> Vec<String> {
    doc["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["status"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_second_identical_run_is_up_to_date_and_uploads_nothing() {
    let reg = need!("PUSHX_TEST_REGISTRY");
    let proxy = FaultProxy::start(&reg);
    let s = Scenario::new().image(&[("a", &random_bytes(30_000)), ("b", &random_bytes(20_000))]);
    let target = format!("{}/{}:1", proxy.addr(), unique("e2e/uptodate"));
    let pushed = s.push_as(&target, &["--verify", "digest", "-t", "2"]);
    pushed.assert_landed();
    assert_eq!(statuses(&pushed.json()), ["pushed", "pushed"]);
    let (uploads, puts) = (proxy.seen(Kind::BlobUpload), proxy.seen(Kind::ManifestPut));
    assert!(uploads > 0, "{:#?}", proxy.log());

    let again = s.push_as(
        &target,
        &["--verify", "digest", "-t", "2", "--progress", "plain"],
    );
    let r = &again.run;
    again.expect(0);
    let doc = again.json();
    assert_eq!(statuses(&doc), ["up-to-date", "up-to-date"], "{r:?}");
    for i in 0..2 {
        let t = &doc["targets"][i];
        assert_eq!(t["digest"], pushed.target(i)["digest"], "{r:?}");
        assert_eq!(t["bytes_pushed"], 0, "{r:?}");
        assert_eq!(
            t["verification"]["ok"], true,
            "verified all the same: {r:?}"
        );
    }
    assert_eq!(proxy.seen(Kind::BlobUpload), uploads, "{:#?}", proxy.log());
    assert_eq!(proxy.seen(Kind::ManifestPut), puts, "{:#?}", proxy.log());
    assert!(
        r.stderr.contains(": up-to-date sha256:"),
        "the progress says so: {r:?}"
    );
    // The table counts it too.
    let table = s.pushx(&["--verify", "none", s.image_name(), &target]);
    assert_eq!(table.code, 0, "{table:?}");
    assert!(table.stdout.contains(" up-to-date "), "{table:?}");

    // --force pushes again; the tags made to push are still removed.
    let forced = s.push_as(&target, &["--verify", "digest", "-t", "2", "--force"]);
    forced.expect(0);
    assert_eq!(
        statuses(&forced.json()),
        ["pushed", "pushed"],
        "{:?}",
        forced.run
    );
    assert_eq!(
        proxy.seen(Kind::ManifestPut),
        puts + 2,
        "{:#?}",
        proxy.log()
    );
    let name = format!("{}/{}", proxy.addr(), pushed.repo);
    for tag in ["1", "2"] {
        assert!(
            !exists_locally(&format!("{name}:{tag}")),
            "{:?}",
            forced.run
        );
    }
    assert!(exists_locally(s.image_name()), "the source stays");
}

/// A tag that holds another image is pushed over, not skipped.
#[test]
fn a_tag_holding_another_image_is_pushed() {
    let reg = need!("PUSHX_TEST_REGISTRY");
    let target = format!("{reg}/{}:1", unique("e2e/uptodate-other"));
    Scenario::new()
        .random_image(10_000)
        .push_as(&target, &["--verify", "digest"])
        .assert_landed();
    let s = Scenario::new().random_image(10_000);
    let pushed = s.push_as(&target, &["--verify", "digest"]);
    pushed.assert_landed();
    assert_eq!(pushed.target(0)["layers"]["pushed"], 1, "{:?}", pushed.run);
}
