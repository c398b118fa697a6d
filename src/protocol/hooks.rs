//! docker CLI hooks (docker/cli `cli-plugins/manager/hooks.go`, `plugin.go` `RunHook`,
//! `cli-plugins/hooks/template.go`): the request the CLI passes after a hooked command, and the
//! one next step docker-pushx answers with, or nothing.

use serde::Deserialize;
use std::collections::HashMap;

/// The subcommand the CLI runs: `docker-pushx pushx docker-cli-plugin-hooks '<json>'`.
pub(crate) const HOOKS_ARG: &str = "docker-cli-plugin-hooks";

/// What `configure --hooks` writes under `plugins.pushx.hooks`: command prefixes, matched word
/// by word (`push` does not match `image push`, so both are named).
pub(crate) const HOOKED_COMMANDS: &str = "login,push,image push";

/// The request is a few hundred bytes; anything far larger is not from the CLI.
const MAX_REQUEST: usize = 64 * 1024;

/// `HookPluginData`, as the CLI marshals it (Go field names). `RootCmd` is the configured hook
/// that matched (`push`, `image push`, `login`), not the whole command line; flag values are
/// blanked except booleans; `CommandError` is set when the command failed.
#[derive(Debug, Deserialize)]
struct Request {
    #[serde(rename = "RootCmd", default)]
    root_cmd: String,
    #[serde(rename = "Flags", default)]
    flags: Option<HashMap<String, String>>,
    #[serde(rename = "CommandError", default)]
    command_error: String,
}

/// The next step worth printing after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hint {
    /// `docker login` left a password in plain text in config.json.
    Import,
    /// `docker push REF`: check what the registry holds.
    Verify,
}

/// What a hook request needs from the outside to be answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Needs {
    Nothing,
    /// Whether config.json holds a login in plain text.
    PlaintextLogin,
}

/// Read a request: `None` for anything that is not a successful hooked command (bad JSON, a
/// failed command, another command), else the hint it calls for and what deciding it needs.
pub(crate) fn read(request: &str) -> Option<(Hint, Needs)> {
    if request.len() > MAX_REQUEST {
        return None;
    }
    let r: Request = serde_json::from_str(request).ok()?;
    if !r.command_error.is_empty() {
        return None;
    }
    let flag = |name: &str| {
        r.flags
            .as_ref()
            .and_then(|f| f.get(name))
            .map(String::as_str)
    };
    match r.root_cmd.as_str() {
        "login" => Some((Hint::Import, Needs::PlaintextLogin)),
        // `--all-tags` pushes a repository, not one reference that verify could name.
        "push" | "image push" if flag("all-tags") != Some("true") && flag("a") != Some("true") => {
            Some((Hint::Verify, Needs::Nothing))
        }
        _ => None,
    }
}

/// The reply for `hint`: `{"Type":0,"Template":"…"}` (`Type` 0 is `NextSteps`, the only type).
/// The template is Go text/template with the cobra command as dot; `{{arg . 0}}` is the first
/// argument after the flags, a form CLI 26.1 to 29 all accept.
pub(crate) fn reply(hint: Hint) -> String {
    let template = match hint {
        Hint::Import => {
            "Move the login kept in plain text in config.json to the OS keyring: docker pushx import"
        }
        Hint::Verify => "Check what the registry now holds: docker pushx verify {{arg . 0}}",
    };
    serde_json::json!({ "Type": 0, "Template": template }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn after_login_and_push() {
        assert_eq!(
            read(
                r#"{"RootCmd":"login","Flags":{"username":"","password-stdin":"true"},"CommandError":""}"#
            ),
            Some((Hint::Import, Needs::PlaintextLogin))
        );
        assert_eq!(
            read(r#"{"RootCmd":"push","Flags":{}}"#),
            Some((Hint::Verify, Needs::Nothing))
        );
        assert_eq!(
            read(r#"{"RootCmd":"image push","Flags":null,"CommandError":""}"#),
            Some((Hint::Verify, Needs::Nothing))
        );
        let v: serde_json::Value = serde_json::from_str(&reply(Hint::Verify)).unwrap();
        assert_eq!(v["Type"], 0);
        assert!(
            v["Template"]
                .as_str()
                .unwrap()
                .ends_with("docker pushx verify {{arg . 0}}")
        );
        let v: serde_json::Value = serde_json::from_str(&reply(Hint::Import)).unwrap();
        assert!(
            v["Template"]
                .as_str()
                .unwrap()
                .ends_with("docker pushx import")
        );
    }

    #[test]
    fn nothing_after_a_failure_or_another_command() {
        for r in [
            r#"{"RootCmd":"push","Flags":{},"CommandError":"denied: requested access to the resource is denied"}"#,
            r#"{"RootCmd":"login","CommandError":"Error response from daemon: unauthorized"}"#,
            r#"{"RootCmd":"image ls","Flags":{}}"#,
            r#"{"RootCmd":"pushx","Flags":{}}"#,
            r#"{"RootCmd":"push","Flags":{"all-tags":"true"}}"#,
            r#"{"RootCmd":"push","Flags":{"a":"true"}}"#,
            r#"{}"#,
        ] {
            assert_eq!(read(r), None, "{r}");
        }
    }

    #[test]
    fn bad_requests_are_nothing() {
        let big = format!(
            r#"{{"RootCmd":"push","Flags":{{}},"x":"{}"}}"#,
            "a".repeat(10 << 20)
        );
        for r in [
            "",
            " ",
            "null",
            "[]",
            "not json",
            "{\"RootCmd\":",
            "{\"RootCmd\":1}",
            "{\"RootCmd\":\"push\",\"Flags\":{\"a\":1}}",
            big.as_str(),
        ] {
            assert_eq!(read(r), None, "{}", &r[..r.len().min(40)]);
        }
        let pieces = [
            "{",
            "}",
            "\"RootCmd\"",
            ":",
            "\"push\"",
            ",",
            "\"Flags\"",
            "null",
            "\\u0000",
            "é",
        ];
        for s in crate::protocol::mixes(&pieces, 2000) {
            let _ = read(&s);
        }
    }
}
