//! install.sh: installing from prebuilt binaries, `docker pushx configure`, then
//! `install.sh --uninstall`, which must take back what configure wrote into config.json (a
//! `credsStore` naming a helper that is gone fails every `docker login`) and nothing else.

use crate::common::{HELPER, PLUGIN, password, run, run_with_stdin, unique, user};
use std::path::{Path, PathBuf};
use std::process::Command;

/// install.sh with a home, a docker config and a helper directory of the test's own, installing
/// the test's binaries instead of building release ones.
fn install_sh(home: &Path, config: &Path, bin: &Path) -> Command {
    let mut c = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("install.sh"));
    c.env("HOME", home)
        .env("DOCKER_CONFIG", config)
        .env("PUSHX_BIN_DIR", bin)
        .env(
            "PUSHX_INSTALL_FROM",
            Path::new(PLUGIN).parent().expect("the plugin's directory"),
        );
    c
}

/// A PATH holding only the docker CLI (and `extra`), so that no other
/// `docker-credential-*` on the machine's PATH (an installed docker-credential-pushx, the
/// Secret Service helper docker would pick by default) stands in for the one under test.
fn bare_path(dir: &Path, extra: Option<&Path>) -> String {
    let docker = run(Command::new("sh").args(["-c", "command -v docker"]));
    assert_eq!(docker.code, 0, "no docker CLI: {docker:?}");
    let link = dir.join("docker");
    if !link.exists() {
        std::os::unix::fs::symlink(docker.stdout.trim(), &link).unwrap();
    }
    match extra {
        Some(e) => format!("{}:{}", e.display(), dir.display()),
        None => dir.display().to_string(),
    }
}

#[test]
fn uninstall_undoes_configure_and_docker_login_works_again() {
    let reg = need!("PUSHX_TEST_AUTH_REGISTRY");
    let t = tempfile::tempdir().unwrap();
    let (home, config, bin, path_dir) = (
        t.path().join("home"),
        t.path().join("docker"),
        t.path().join("bin"),
        t.path().join("path"),
    );
    for d in [&home, &config, &path_dir] {
        std::fs::create_dir_all(d).unwrap();
    }
    let file: PathBuf = config.join("config.json");
    // The user's own keys, and another helper's entry, all of which must survive.
    let other = format!("{}.example:5000", unique("other"));
    let before = format!(
        "{{\n  \"auths\": {{}},\n  \"psFormat\": \"table {{{{.ID}}}}\",\n  \"credHelpers\": {{\n    \"{other}\": \"desktop\"\n  }},\n  \"plugins\": {{\n    \"other\": {{\n      \"k\": \"v\"\n    }}\n  }}\n}}\n"
    );
    std::fs::write(&file, &before).unwrap();

    let r = run(&mut install_sh(&home, &config, &bin));
    assert_eq!(r.code, 0, "{r:?}");
    let plugin = config.join("cli-plugins/docker-pushx");
    let helper = bin.join("docker-credential-pushx");
    assert!(plugin.is_file() && helper.is_file(), "{r:?}");
    assert_eq!(
        std::fs::read(&helper).unwrap(),
        std::fs::read(HELPER).unwrap()
    );

    let with_helper = bare_path(&path_dir, Some(&bin));
    let docker = |path: &str| {
        let mut c = Command::new("docker");
        c.env("DOCKER_CONFIG", &config)
            .env("HOME", &home)
            .env("PATH", path)
            .env_remove("DOCKER_AUTH_CONFIG")
            .env_remove("DOCKER_HOST");
        c
    };
    for args in [
        &["pushx", "configure"][..],
        &["pushx", "configure", "--registry", &reg],
    ] {
        let r = run(docker(&with_helper).args(args));
        assert_eq!(r.code, 0, "{r:?}");
    }
    let configured: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(configured["credsStore"], "pushx", "{configured}");
    assert_eq!(configured["credHelpers"][&reg], "pushx", "{configured}");

    // The failure uninstalling used to leave behind: docker runs a helper that is not there.
    let login = |path: &str| {
        run_with_stdin(
            docker(path).args(["login", &reg, "-u", &user(), "--password-stdin"]),
            Some(password().as_bytes()),
        )
    };
    let without_helper = bare_path(&path_dir, None);
    let r = login(&without_helper);
    assert_ne!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("docker-credential-pushx"), "{r:?}");

    let r = run(install_sh(&home, &config, &bin).arg("--uninstall"));
    assert_eq!(r.code, 0, "{r:?}");
    for said in [
        "credsStore: \"pushx\" removed".to_string(),
        format!("credHelpers[\"{reg}\"]: \"pushx\" removed"),
        format!("removed {}", plugin.display()),
        format!("removed {}", helper.display()),
    ] {
        assert!(r.stdout.contains(&said), "{said:?} not said: {r:?}");
    }
    assert!(!plugin.exists() && !helper.exists(), "{r:?}");
    // What configure added is gone, and the rest is the file as it was, to the byte.
    assert_eq!(std::fs::read_to_string(&file).unwrap(), before);

    let r = login(&without_helper);
    assert_eq!(r.code, 0, "{r:?}");
    let after: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert!(after["auths"][&reg].is_object(), "{after}");
    assert_eq!(after["credHelpers"][&other], "desktop", "{after}");
    assert!(after.get("credsStore").is_none(), "{after}");

    // Nothing left to undo: a second uninstall changes nothing and says so.
    let r = run(install_sh(&home, &config, &bin).arg("--uninstall"));
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("not installed"), "{r:?}");
}

#[test]
fn install_places_man_pages_and_uninstall_removes_them() {
    let t = tempfile::tempdir().unwrap();
    let (home, config, bin) = (
        t.path().join("home"),
        t.path().join("docker"),
        t.path().join("bin"),
    );
    std::fs::create_dir_all(&home).unwrap();
    let r = run(&mut install_sh(&home, &config, &bin));
    assert_eq!(r.code, 0, "{r:?}");
    // Beside the helper's bin directory, where man looks for a bin directory on PATH.
    let man1 = t.path().join("share/man/man1");
    assert!(
        r.stdout
            .contains(&format!("man pages into {}", man1.display())),
        "{r:?}"
    );
    let top = man1.join("docker-pushx.1");
    for page in [
        "docker-pushx.1",
        "docker-pushx-login.1",
        "docker-pushx-verify.1",
        "docker-pushx-version.1",
    ] {
        assert!(man1.join(page).is_file(), "{page}: {r:?}");
    }
    let pages = std::fs::read_dir(&man1).unwrap().count();
    // `man` finds them by name through PATH, as it will for a user.
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let found = run(Command::new("man")
        .args(["-w", "docker-pushx-login"])
        .env("PATH", &path)
        .env_remove("MANPATH"));
    assert_eq!(found.code, 0, "{found:?}");
    assert_eq!(
        found.stdout.trim(),
        man1.join("docker-pushx-login.1").display().to_string()
    );
    // A page of someone else's in the same directory stays.
    let other = man1.join("docker-other.1");
    std::fs::write(&other, ".TH OTHER 1\n").unwrap();

    let r = run(install_sh(&home, &config, &bin).arg("--uninstall"));
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.contains(&format!(
            "removed {pages} man pages from {}",
            man1.display()
        )),
        "{r:?}"
    );
    assert!(!top.exists(), "{r:?}");
    let left: Vec<_> = std::fs::read_dir(&man1)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(left, vec![other], "{r:?}");

    // PUSHX_MAN_DIR chooses another man directory.
    let elsewhere = t.path().join("man");
    let r = run(install_sh(&home, &config, &bin).env("PUSHX_MAN_DIR", &elsewhere));
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        elsewhere.join("man1/docker-pushx-doctor.1").is_file(),
        "{r:?}"
    );
    let r = run(install_sh(&home, &config, &bin)
        .env("PUSHX_MAN_DIR", &elsewhere)
        .arg("--uninstall"));
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        !elsewhere.join("man1/docker-pushx-doctor.1").exists(),
        "{r:?}"
    );
}
