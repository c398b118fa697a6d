//! `--help` in the docker CLI's layout (docker/cli's cobra usage template, cli/cobra.go):
//! `Usage:`, the description, `Examples:`, `Options:`, `Commands:`, rendered from the clap
//! definitions so that help, man pages and parsing never disagree.

use clap::{Arg, Command};

/// The width help is laid out for when stdout is not a terminal (docker's default).
pub(crate) const DEFAULT_WIDTH: usize = 80;

/// Help for `docker pushx` (`command` `None`) or one of its commands, `width` columns wide.
/// `None` when there is no such command.
pub(crate) fn render(root: &Command, command: Option<&str>, width: usize) -> Option<String> {
    let path = root.get_bin_name().unwrap_or(root.get_name()).to_string();
    match command {
        None => Some(render_one(root, &path, true, width)),
        Some(name) => {
            let sub = root.find_subcommand(name)?;
            Some(render_one(
                sub,
                &format!("{path} {}", sub.get_name()),
                false,
                width,
            ))
        }
    }
}

/// The columns of the terminal on stdout, else [`DEFAULT_WIDTH`].
pub(crate) fn width() -> usize {
    let term = console::Term::stdout();
    if term.is_term() {
        let (_, cols) = term.size();
        usize::from(cols).max(40)
    } else {
        DEFAULT_WIDTH
    }
}

fn render_one(cmd: &Command, path: &str, top: bool, width: usize) -> String {
    let mut out = format!("Usage:  {}\n", usage(cmd, path));
    if top && cmd.has_subcommands() {
        out.push_str(&format!("        {path} COMMAND\n"));
    }
    let about = cmd
        .get_long_about()
        .or(cmd.get_about())
        .map(|a| a.to_string())
        .unwrap_or_default();
    if !about.is_empty() {
        out.push('\n');
        for line in wrap(&about, width - 1) {
            out.push_str(&line);
            out.push('\n');
        }
    }
    let examples = examples(cmd);
    if !examples.is_empty() {
        out.push_str("\nExamples:\n");
        for e in examples {
            out.push_str(&format!("  {e}\n"));
        }
    }
    let options = options(cmd, width);
    if !options.is_empty() {
        out.push_str("\nOptions:\n");
        out.push_str(&options);
    }
    let subs: Vec<&Command> = cmd.get_subcommands().filter(|c| !c.is_hide_set()).collect();
    if !subs.is_empty() {
        // cobra's NamePadding: the longest name, at least 11.
        let pad = subs
            .iter()
            .map(|c| c.get_name().len())
            .max()
            .unwrap_or(0)
            .max(11);
        out.push_str("\nCommands:\n");
        for c in &subs {
            let about = c.get_about().map(|a| a.to_string()).unwrap_or_default();
            out.push_str(&format!("  {:pad$} {about}\n", c.get_name()));
        }
        out.push_str(&format!(
            "\nRun '{path} COMMAND --help' for more information on a command.\n"
        ));
    }
    out
}

/// A command's examples: its `after_help`, one per line (see `cli::Cli`).
pub(crate) fn examples(cmd: &Command) -> Vec<String> {
    cmd.get_after_help()
        .map(|h| h.to_string())
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

/// `docker pushx login [OPTIONS] [SERVER]`: docker's use line, positionals in its notation.
pub(crate) fn usage(cmd: &Command, path: &str) -> String {
    let mut parts = vec![path.to_string()];
    if cmd.get_arguments().any(is_option) {
        parts.push("[OPTIONS]".into());
    }
    for arg in cmd.get_positionals().filter(|a| !a.is_hide_set()) {
        let name = arg
            .get_value_names()
            .and_then(|n| n.first())
            .map(|n| n.to_string())
            .unwrap_or_else(|| arg.get_id().to_string().to_uppercase());
        let many = arg.get_num_args().is_some_and(|n| n.max_values() > 1);
        parts.push(match (arg.is_required_set(), many) {
            (true, false) => name,
            (true, true) => format!("{name} [{name}...]"),
            (false, false) => format!("[{name}]"),
            (false, true) => format!("[{name}...]"),
        });
    }
    parts.join(" ")
}

/// A flag the Options section lists: docker lists neither `--help` nor hidden flags.
fn is_option(arg: &Arg) -> bool {
    !arg.is_positional() && !arg.is_hide_set() && arg.get_id() != "help"
}

/// The Options section, laid out as pflag's `FlagUsagesWrapped`: `  -t, --tag tag`, the help
/// three columns past the longest such name, wrapped under itself.
fn options(cmd: &Command, width: usize) -> String {
    let rows: Vec<(String, String)> = cmd
        .get_arguments()
        .filter(|a| is_option(a))
        .map(|a| (flag_name(a), flag_help(a)))
        .collect();
    let col = rows.iter().map(|(n, _)| n.len()).max().unwrap_or(0) + 3;
    let mut out = String::new();
    for (name, help) in rows {
        let lines = wrap(&help, (width - 1).saturating_sub(col).max(20));
        out.push_str(&format!("{name:col$}{}\n", lines.first().map_or("", |s| s)));
        for l in lines.iter().skip(1) {
            out.push_str(&format!("{:col$}{l}\n", ""));
        }
    }
    out
}

fn flag_name(arg: &Arg) -> String {
    let short = arg
        .get_short()
        .map(|s| format!("-{s}, "))
        .unwrap_or_else(|| "    ".into());
    let long = arg.get_long().map(|l| format!("--{l}")).unwrap_or_default();
    let value = if arg.get_action().takes_values() {
        format!(" {}", value_type(arg))
    } else {
        String::new()
    };
    format!("  {short}{long}{value}")
}

/// pflag names a flag's value by its type (`string`, `int`): a choice is a string, a number
/// an int, anything else its value name, lowercased.
fn value_type(arg: &Arg) -> String {
    if !arg.get_possible_values().is_empty() {
        return "string".into();
    }
    if is_number(arg.get_default_values()) {
        return "int".into();
    }
    match arg.get_value_names().and_then(|n| n.first()) {
        Some(n) if n.as_str() == "N" => "int".into(),
        Some(n) => n.to_lowercase(),
        None => "string".into(),
    }
}

fn is_number(values: &[clap::builder::OsStr]) -> bool {
    values
        .first()
        .and_then(|v| v.to_str())
        .is_some_and(|v| v.parse::<i64>().is_ok())
}

/// The help line, then the choices and the default as pflag and docker write them:
/// `("table", "json")`, `(default "table")`, `(default 3)`.
fn flag_help(arg: &Arg) -> String {
    let mut help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
    let aliases = arg.get_visible_aliases().unwrap_or_default();
    if !aliases.is_empty() {
        let list: Vec<String> = aliases.iter().map(|a| format!("--{a}")).collect();
        help.push_str(&format!(" (also {})", list.join(", ")));
    }
    if arg.get_action().takes_values() {
        let choices: Vec<String> = arg
            .get_possible_values()
            .iter()
            .filter(|p| !p.is_hide_set())
            .map(|p| format!("\"{}\"", p.get_name()))
            .collect();
        if !choices.is_empty() {
            help.push_str(&format!(" ({})", choices.join(", ")));
        }
        if let Some(d) = arg.get_default_values().first() {
            let d = d.to_string_lossy();
            if is_number(arg.get_default_values()) {
                help.push_str(&format!(" (default {d})"));
            } else {
                help.push_str(&format!(" (default \"{d}\")"));
            }
        }
    }
    help
}

/// Words of `text` in lines of at most `width` columns (a longer word gets a line of its own).
/// Newlines in `text` are kept.
pub(crate) fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for para in text.lines() {
        let mut line = String::new();
        for word in para.split_whitespace() {
            if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::cli::Cli;
    use clap::CommandFactory;

    fn root() -> Command {
        let mut c = Cli::command();
        c.build();
        c
    }

    #[test]
    fn top_level_in_dockers_layout() {
        let h = render(&root(), None, 80).unwrap();
        assert!(
            h.starts_with(
                "Usage:  docker pushx [OPTIONS] SOURCE [TARGET...]\n        docker pushx COMMAND\n\n"
            ),
            "{h}"
        );
        let at = |s: &str| h.find(s).unwrap_or_else(|| panic!("{s:?} missing in\n{h}"));
        assert!(at("\nExamples:\n  docker pushx ") < at("\nOptions:\n"));
        assert!(at("\nOptions:\n") < at("\nCommands:\n  login       Log in"));
        assert!(
            h.ends_with("Run 'docker pushx COMMAND --help' for more information on a command.\n")
        );
        assert!(h.contains("\n  -t, --tag tag "), "{h}");
        assert!(h.contains("\n      --jobs int "), "{h}");
        let words = h.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            words.contains("--format string How to print the result on stdout (\"table\", \"json\") (default \"table\")"),
            "{h}"
        );
        assert!(!h.contains("-h, --help"), "{h}");
        // Options wrap to the width; examples and command lines are kept whole, as docker does.
        let options = &h[at("\nOptions:\n")..at("\nCommands:\n")];
        assert!(options.lines().all(|l| l.chars().count() < 80), "{h}");
    }

    #[test]
    fn every_command_has_usage_options_and_examples() {
        let r = root();
        for sub in r.get_subcommands() {
            let name = sub.get_name();
            let h = render(&r, Some(name), 80).unwrap();
            assert!(
                h.starts_with(&format!("Usage:  docker pushx {name}")),
                "{h}"
            );
            assert!(h.contains("\nExamples:\n  docker "), "{name}: {h}");
            assert!(!h.contains("Commands:"), "{h}");
        }
        assert!(render(&r, Some("nope"), 80).is_none());
    }

    #[test]
    fn use_lines_name_positionals_as_docker_does() {
        let r = root();
        let u = |n: &str| usage(r.find_subcommand(n).unwrap(), &format!("docker pushx {n}"));
        assert_eq!(u("login"), "docker pushx login [OPTIONS] [SERVER]");
        assert_eq!(
            u("verify"),
            "docker pushx verify [OPTIONS] REFERENCE [REFERENCE...]"
        );
        assert_eq!(u("doctor"), "docker pushx doctor");
        assert_eq!(u("version"), "docker pushx version [OPTIONS]");
    }

    #[test]
    fn help_wraps_under_its_column() {
        let h = render(&root(), Some("configure"), 60).unwrap();
        let lines: Vec<&str> = h.lines().collect();
        let i = lines
            .iter()
            .position(|l| l.starts_with("      --undo "))
            .unwrap();
        let col = lines[i].find("Undo").unwrap();
        assert!(
            lines[i + 1].len() > col && lines[i + 1][..col].trim().is_empty(),
            "{h}"
        );
        assert!(lines[i..].iter().all(|l| l.chars().count() < 60), "{h}");
    }

    #[test]
    fn wrap_keeps_words_and_newlines() {
        assert_eq!(wrap("a bb ccc", 4), vec!["a bb", "ccc"]);
        assert_eq!(wrap("averylongword x", 4), vec!["averylongword", "x"]);
        assert_eq!(wrap("a\nb", 10), vec!["a", "b"]);
    }
}
