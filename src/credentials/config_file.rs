//! Reading docker's config.json ([`load`], the one loader) and editing it safely: an advisory
//! lock against other docker-pushx processes, then a temp file and a rename, keeping unknown keys
//! (in their order), the file's mode and owner.

use crate::error::Error;
use crate::protocol::config::DockerConfig;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Read config.json. A missing file is an empty config, as docker treats it; an unreadable or
/// malformed one is an error naming the fix, since guessing would push with the wrong
/// credentials or overwrite the user's file. Every reader of the file goes through here.
pub(crate) fn load(path: &Path) -> Result<DockerConfig, Error> {
    read(path).map(|(config, _)| config)
}

/// [`load`], also giving the bytes read (`None`: no file) so that an edit can tell whether it
/// changed anything.
fn read(path: &Path) -> Result<(DockerConfig, Option<Vec<u8>>), Error> {
    match std::fs::read(path) {
        Ok(bytes) => {
            let config = DockerConfig::parse(&bytes).map_err(|e| {
                Error::other(format!(
                    "{} is malformed: {e}: fix it or move it aside (it was left as it is)",
                    path.display()
                ))
            })?;
            Ok((config, Some(bytes)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((DockerConfig::default(), None)),
        Err(e) => Err(Error::other(format!(
            "cannot read {}: {e}: check its permissions",
            path.display()
        ))),
    }
}

/// An open edit: holds the lock until dropped.
pub(crate) struct Edit {
    path: PathBuf,
    pub config: DockerConfig,
    /// The bytes read, to skip writing when nothing changed.
    original: Option<Vec<u8>>,
    _lock: File,
}

/// Lock and read config.json for editing. A malformed file is refused, never overwritten.
pub(crate) fn edit(path: &Path) -> Result<Edit, Error> {
    // docker resolves a symlinked config.json and replaces its target; so do we.
    let path = match std::fs::canonicalize(path) {
        Ok(p) => p,
        Err(_) => path.to_path_buf(),
    };
    let dir = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    create_dir_private(&dir)?;
    let lock_path = dir.join(".config.json.pushx-lock");
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| {
            Error::other(format!(
                "cannot lock {}: {e}: check the directory's permissions",
                path.display()
            ))
        })?;
    lock.lock()
        .map_err(|e| Error::other(format!("cannot lock {}: {e}", path.display())))?;
    let (config, original) = read(&path)?;
    Ok(Edit {
        path,
        config,
        original,
        _lock: lock,
    })
}

fn create_dir_private(dir: &Path) -> Result<(), Error> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir).map_err(|e| {
        Error::other(format!(
            "cannot create {} to hold config.json: {e}",
            dir.display()
        ))
    })
}

impl Edit {
    /// Write the edited config, atomically. Returns false when there was nothing to change.
    pub(crate) fn save(self) -> Result<bool, Error> {
        let mut text =
            serde_json::to_string_pretty(&serde_json::Value::Object(self.config.doc.clone()))
                .map_err(|e| Error::other(e.to_string()))?;
        text.push('\n');
        if self.original.as_deref() == Some(text.as_bytes()) {
            return Ok(false);
        }
        if let Some(orig) = &self.original {
            // Re-serialising an unchanged document may still reformat it: compare values.
            if DockerConfig::parse(orig)
                .map(|c| c.doc == self.config.doc)
                .unwrap_or(false)
            {
                return Ok(false);
            }
        }
        write_atomically(&self.path, text.as_bytes(), Some(0o600))
            .map_err(|e| Error::other(format!("cannot write {}: {e}", self.path.display())))?;
        Ok(true)
    }
}

/// Replace `path` with `bytes` so that a reader sees the old file or the new one, never a
/// part: a temp file in the same directory, synced, then renamed over it. An existing file's
/// mode and owner are kept; a new one gets `new_mode` (`None`: what the umask gives).
pub(crate) fn write_atomically(
    path: &Path,
    bytes: &[u8],
    new_mode: Option<u32>,
) -> std::io::Result<()> {
    let tmp = temp_path(path);
    let write = || -> std::io::Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .or_else(|_| {
                std::fs::remove_file(&tmp)?;
                OpenOptions::new().write(true).create_new(true).open(&tmp)
            })?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::{MetadataExt, PermissionsExt};
            match std::fs::metadata(path) {
                Ok(m) => {
                    f.set_permissions(std::fs::Permissions::from_mode(m.mode() & 0o7777))?;
                    // Keep the owner when root edits a user's file (e.g. under sudo).
                    let _ = std::os::unix::fs::fchown(&f, Some(m.uid()), Some(m.gid()));
                }
                Err(_) => {
                    if let Some(mode) = new_mode {
                        f.set_permissions(std::fs::Permissions::from_mode(mode))?;
                    }
                }
            }
        }
        #[cfg(not(unix))]
        let _ = new_mode;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// The temp file [`write_atomically`] writes `path` through: hidden, next to it, per process.
pub(crate) fn temp_path(path: &Path) -> PathBuf {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy());
    dir.join(format!(".{name}.pushx-{}.tmp", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_unknown_keys_and_mode() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("config.json");
        std::fs::write(
            &p,
            br#"{"auths":{},"psFormat":"x","plugins":{"a":{"b":"c"}}}"#,
        )
        .unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        let mut e = edit(&p).unwrap();
        e.config.set_creds_store("pushx");
        assert!(e.save().unwrap());
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        assert_eq!(v["psFormat"], "x");
        assert_eq!(v["plugins"]["a"]["b"], "c");
        assert_eq!(v["credsStore"], "pushx");
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o640
        );
    }

    #[test]
    fn new_file_is_private_and_malformed_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("sub/config.json");
        let mut e = edit(&p).unwrap();
        e.config.set_creds_store("pushx");
        e.save().unwrap();
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        std::fs::write(&p, b"{nope").unwrap();
        assert!(edit(&p).is_err());
        assert_eq!(std::fs::read(&p).unwrap(), b"{nope");
    }

    #[test]
    fn unchanged_is_not_rewritten() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("config.json");
        std::fs::write(&p, b"{ \"a\" : 1 }").unwrap();
        assert!(!edit(&p).unwrap().save().unwrap());
        assert_eq!(std::fs::read(&p).unwrap(), b"{ \"a\" : 1 }");
    }

    #[test]
    fn load_missing_is_empty_and_bad_is_one_line_with_the_fix() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("config.json");
        assert!(load(&p).unwrap().doc.is_empty());
        std::fs::write(&p, b"{\"currentContext\":\"x\"}").unwrap();
        assert_eq!(load(&p).unwrap().current_context(), Some("x"));
        std::fs::write(&p, b"{\"auths\": {\n").unwrap();
        let msg = load(&p).unwrap_err().to_string();
        assert!(
            msg.contains("is malformed") && msg.contains("fix it"),
            "{msg}"
        );
        assert!(!msg.contains('\n'), "{msg:?}");
        // The editor reads through the same loader: same refusal.
        assert_eq!(edit(&p).err().unwrap().to_string(), msg);
        let dir = d.path().join("dir.json");
        std::fs::create_dir(&dir).unwrap();
        let msg = load(&dir).unwrap_err().to_string();
        assert!(
            msg.starts_with("cannot read") && msg.contains("permissions"),
            "{msg}"
        );
    }

    #[test]
    fn an_edit_keeps_the_other_keys_and_their_order() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("config.json");
        std::fs::write(
            &p,
            r#"{"zeta":{"y":1,"b":[true,null]},"auths":{"r:1":{"auth":"YWxpY2U6czNjcmV0","x":"keep"}},"alpha":"\u00e9"}"#,
        )
        .unwrap();
        let mut e = edit(&p).unwrap();
        e.config.set_cred_helper("r:1", "pushx").unwrap();
        e.config.remove_auth_secret("r:1");
        e.config
            .set_plugin_setting("pushx", "hooks", "push")
            .unwrap();
        assert!(e.save().unwrap());
        let want = r#"{
  "zeta": {
    "y": 1,
    "b": [
      true,
      null
    ]
  },
  "auths": {
    "r:1": {
      "x": "keep"
    }
  },
  "alpha": "é",
  "credHelpers": {
    "r:1": "pushx"
  },
  "plugins": {
    "pushx": {
      "hooks": "push"
    }
  }
}
"#;
        assert_eq!(std::fs::read_to_string(&p).unwrap(), want);
    }

    #[test]
    fn an_edit_that_changes_nothing_leaves_the_bytes() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("config.json");
        let bytes = b"{\n\t\"plugins\": {\"pushx\": {\"hooks\": \"push\"}},\n\t\"credsStore\": \"pushx\"\n}";
        std::fs::write(&p, bytes).unwrap();
        let mut e = edit(&p).unwrap();
        assert_eq!(e.config.set_creds_store("pushx").as_deref(), Some("pushx"));
        e.config
            .set_plugin_setting("pushx", "hooks", "push")
            .unwrap();
        assert!(!e.config.remove_auth("nope"));
        assert!(!e.save().unwrap());
        assert_eq!(std::fs::read(&p).unwrap(), bytes);
    }
}
