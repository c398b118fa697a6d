//! Planning: SOURCE, TARGETs and extra tags checked with docker's grammar and expanded into the
//! references to push, grouped by repository. Pure: nothing here touches the daemon.

use crate::error::Error;
use crate::protocol::reference::{Reference, looks_like_image_id, validate_tag};

/// What will be pushed, decided before the daemon is touched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    /// SOURCE as the user wrote it (the daemon resolves names and IDs itself).
    pub source: String,
    /// Target references grouped by repository, in the order given. In each group the first
    /// push uploads the layers; the others only write a manifest.
    pub groups: Vec<Vec<Reference>>,
}

impl Plan {
    pub(crate) fn targets(&self) -> impl Iterator<Item = &Reference> {
        self.groups.iter().flatten()
    }
}

/// Validate SOURCE, TARGETs and tags with docker's grammar and expand them into references.
pub(crate) fn plan(source: &str, targets: &[String], tags: &[String]) -> Result<Plan, Error> {
    let bad = |e: crate::protocol::reference::RefError| Error::usage(e.to_string());
    if source.trim().is_empty() {
        return Err(Error::usage(
            "SOURCE is empty: name a local image (name[:tag] or ID)",
        ));
    }
    let source_ref = if looks_like_image_id(source) {
        None
    } else {
        Some(Reference::parse(source).map_err(bad)?)
    };
    for t in tags {
        validate_tag(t).map_err(bad)?;
    }
    let default_tag = source_ref
        .as_ref()
        .and_then(|r| r.tag.clone())
        .unwrap_or_else(|| "latest".into());
    // A reference without a tag takes SOURCE's (or `latest`).
    let tagged = |r: Reference| -> Result<Reference, Error> {
        match r.tag {
            Some(_) => Ok(r),
            None => r.with_tag(&default_tag).map_err(bad),
        }
    };
    let mut repos: Vec<Reference> = Vec::new();
    if targets.is_empty() {
        let Some(r) = source_ref.clone().filter(|r| r.explicit_domain) else {
            return Err(Error::usage(format!(
                "\"{source}\" names no registry: give a TARGET (e.g. docker pushx {source} registry.example.com/team/app:tag)"
            )));
        };
        if r.digest.is_some() {
            return Err(Error::usage(format!(
                "cannot push \"{source}\": a digest reference cannot be pushed; name a tag"
            )));
        }
        repos.push(tagged(r)?);
    }
    for t in targets {
        let r = Reference::parse(t).map_err(bad)?;
        if r.digest.is_some() {
            return Err(Error::usage(format!(
                "invalid target \"{t}\": a TARGET cannot carry a digest (the registry assigns it); use a tag"
            )));
        }
        repos.push(tagged(r)?);
    }
    let mut groups: Vec<Vec<Reference>> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for r in repos {
        let extra: Vec<Reference> = tags
            .iter()
            .map(|t| r.with_tag(t))
            .collect::<Result<_, _>>()
            .map_err(bad)?;
        for r in std::iter::once(r).chain(extra) {
            if !seen.insert(r.to_string()) {
                continue;
            }
            match groups.iter_mut().find(|g| g[0].name() == r.name()) {
                Some(g) => g.push(r),
                None => groups.push(vec![r]),
            }
        }
    }
    Ok(Plan {
        source: source.to_string(),
        groups,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Kind;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn targets_take_the_source_tag_and_extra_tags_group_by_repository() {
        let p = plan(
            "myapi:2.3.0",
            &v(&["reg.example.com/team/myapi", "ghcr.io/me/myapi:x"]),
            &v(&["2.3", "latest"]),
        )
        .unwrap();
        let g: Vec<Vec<String>> = p
            .groups
            .iter()
            .map(|g| g.iter().map(|r| r.to_string()).collect())
            .collect();
        assert_eq!(
            g,
            vec![
                v(&[
                    "reg.example.com/team/myapi:2.3.0",
                    "reg.example.com/team/myapi:2.3",
                    "reg.example.com/team/myapi:latest"
                ]),
                v(&[
                    "ghcr.io/me/myapi:x",
                    "ghcr.io/me/myapi:2.3",
                    "ghcr.io/me/myapi:latest"
                ]),
            ]
        );
    }

    #[test]
    fn same_repository_targets_share_a_group_and_duplicates_go() {
        let p = plan("a:1", &v(&["r:5000/x:1", "r:5000/x:2", "r:5000/x:1"]), &[]).unwrap();
        assert_eq!(p.groups.len(), 1);
        assert_eq!(p.groups[0].len(), 2);
    }

    #[test]
    fn source_alone_must_name_a_registry() {
        assert_eq!(
            plan("reg.example.com/t/a:1", &[], &[]).unwrap().groups[0][0].to_string(),
            "reg.example.com/t/a:1"
        );
        assert_eq!(
            plan("reg.example.com/t/a", &[], &[]).unwrap().groups[0][0].to_string(),
            "reg.example.com/t/a:latest"
        );
        assert_eq!(plan("myapi:1", &[], &[]).unwrap_err().kind, Kind::Usage);
    }

    #[test]
    fn bad_input_is_a_usage_error() {
        let long = "a".repeat(129);
        for (src, targets, tags) in [
            ("", v(&["r:1/x"]), vec![]),
            ("a:1", v(&["R:1/Upper/x"]), vec![]),
            ("a:1", v(&["r:1/x:bad tag"]), vec![]),
            ("a:1", v(&[&format!("r:1/x:{long}")]), vec![]),
            (
                "a:1",
                v(&[
                    "r:1/x@sha256:a8e61ef5f1e28e10edde979325c2a924fc1776a9e6f095fb900f16ae983e5aa7",
                ]),
                vec![],
            ),
            ("a:1", v(&[""]), vec![]),
            ("a:1", v(&["r:1/x"]), v(&["-bad"])),
            ("Bad:1", v(&["r:1/x"]), vec![]),
        ] {
            let e = plan(src, &targets, &tags).unwrap_err();
            assert_eq!(e.kind, Kind::Usage, "{src} {targets:?} {tags:?}");
            assert!(!e.message.contains('\n'));
        }
    }

    #[test]
    fn image_ids_are_accepted_as_source() {
        let p = plan("c80e6a4bda18", &v(&["r:1/x"]), &[]).unwrap();
        assert_eq!(p.groups[0][0].to_string(), "r:1/x:latest");
    }
}
