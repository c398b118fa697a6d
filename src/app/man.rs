//! Man pages from the clap definitions (clap_mangen): `docker-pushx.1` and one
//! `docker-pushx-COMMAND.1` per command, written by the hidden `docker-pushx __man DIR`
//! that install.sh runs. Synopsis and examples are the ones `--help` shows.

use crate::app::cli::Cli;
use crate::app::help;
use crate::error::Error;
use clap::{Command, CommandFactory};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The argument that asks for the man pages; not a command (absent from help and completion).
pub(crate) const MAN_ARG: &str = "__man";

/// The command tree as the pages name it: `docker-pushx`, `docker-pushx-login`, ….
fn tree() -> Command {
    let mut root = Cli::command()
        .name("docker-pushx")
        .display_name("docker-pushx")
        .bin_name("docker pushx");
    root.build();
    root
}

/// Every page: its file name and its roff source.
pub(crate) fn pages() -> Result<Vec<(String, Vec<u8>)>, std::io::Error> {
    let root = tree();
    let mut pages = vec![page(&root, "docker pushx", &root)?];
    for sub in root.get_subcommands().filter(|c| !c.is_hide_set()) {
        pages.push(page(
            sub,
            &format!("docker pushx {}", sub.get_name()),
            &root,
        )?);
    }
    Ok(pages)
}

fn page(cmd: &Command, path: &str, root: &Command) -> Result<(String, Vec<u8>), std::io::Error> {
    let mut usage = help::usage(cmd, path);
    if cmd.has_subcommands() {
        usage.push_str(&format!("\n{path} COMMAND"));
    }
    let cmd = cmd.clone().override_usage(usage);
    let name = cmd.get_display_name().unwrap_or(cmd.get_name()).to_string();
    let man = clap_mangen::Man::new(cmd.clone());
    let mut out = Vec::new();
    // Our own title line: clap_mangen drops an empty date, which shifts the fields after it.
    writeln!(
        out,
        ".TH \"{}\" \"1\" \"{}\" \"docker-pushx {}\" \"Docker User Manuals\"",
        escape(&name.to_uppercase()),
        env!("PUSHX_COMMIT_DATE"),
        env!("CARGO_PKG_VERSION")
    )?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(&mut out)?;
    }
    if cmd.has_subcommands() {
        man.render_subcommands_section(&mut out)?;
    }
    let examples = help::examples(&cmd);
    if !examples.is_empty() {
        out.write_all(b".SH EXAMPLES\n.PP\n.RS 4\n.nf\n")?;
        for e in examples {
            writeln!(out, "{}", escape(&e))?;
        }
        out.write_all(b".fi\n.RE\n")?;
    }
    // The top page names every command's page; a command's page names the top one.
    let root_name = root.get_display_name().unwrap_or(root.get_name());
    let mut see: Vec<String> = vec!["docker(1)".into()];
    if cmd.has_subcommands() {
        see.extend(
            root.get_subcommands()
                .filter(|c| !c.is_hide_set())
                .map(|c| format!("{root_name}-{}(1)", c.get_name())),
        );
    } else {
        see.push(format!("{root_name}(1)"));
    }
    // Page names are not hyphenated at line ends.
    writeln!(
        out,
        ".SH \"SEE ALSO\"\n.nh\n.ad l\n{}",
        escape(&see.join(", "))
    )?;
    Ok((format!("{name}.1"), out))
}

/// Text as roff reads it literally: backslashes and hyphens escaped, and no line starting
/// with a control character.
fn escape(text: &str) -> String {
    let s = text.replace('\\', "\\e").replace('-', "\\-");
    if s.starts_with('.') || s.starts_with('\'') {
        format!("\\&{s}")
    } else {
        s
    }
}

/// `docker-pushx __man DIR`: writes every page into DIR (created if missing) and prints each
/// path written.
pub(crate) fn run(args: &[String]) -> Result<(), Error> {
    let [dir] = args else {
        return Err(Error::usage(format!(
            "{MAN_ARG} takes one directory: docker-pushx {MAN_ARG} DIR"
        )));
    };
    let written = write_all(Path::new(dir))
        .map_err(|e| Error::other(format!("writing man pages to {dir}: {e}")))?;
    let mut out = std::io::stdout().lock();
    for p in written {
        let _ = writeln!(out, "{}", p.display());
    }
    Ok(())
}

pub(crate) fn write_all(dir: &Path) -> Result<Vec<PathBuf>, std::io::Error> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    for (file, text) in pages()? {
        let path = dir.join(file);
        std::fs::write(&path, text)?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_per_command() {
        let pages = pages().unwrap();
        let names: Vec<&str> = pages.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names[0], "docker-pushx.1");
        for c in [
            "login",
            "logout",
            "logins",
            "configure",
            "import",
            "doctor",
            "verify",
            "version",
        ] {
            assert!(
                names.contains(&format!("docker-pushx-{c}.1").as_str()),
                "{names:?}"
            );
        }
        for (name, text) in &pages {
            let text = String::from_utf8(text.clone()).unwrap();
            assert!(text.starts_with(".TH \"DOCKER\\-PUSHX"), "{name}: {text}");
            for section in ["SH NAME", "SH SYNOPSIS", "SH EXAMPLES", "SEE ALSO"] {
                assert!(text.contains(section), "{name}: {section}: {text}");
            }
        }
        let top = String::from_utf8(pages[0].1.clone()).unwrap();
        assert!(top.contains("docker\\-pushx\\-login(1)"), "{top}");
    }

    #[test]
    fn escape_keeps_roff_literal() {
        assert_eq!(escape("a-b"), "a\\-b");
        assert_eq!(escape(".x"), "\\&.x");
        assert_eq!(escape("a\\b"), "a\\eb");
    }
}
