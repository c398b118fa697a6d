use super::*;
use crate::protocol::daemon_host::{Endpoint, parse_host};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn spec(url: &str) -> SshSpec {
    match parse_host(url, None) {
        Ok(Endpoint::Ssh(s)) => s,
        other => panic!("{other:?}"),
    }
}

#[test]
fn failures_are_classified_from_the_exit_status_and_stderr() {
    let s = spec("ssh://me@h:2222");
    let e = SshError::classify(
        &s,
        Some(255),
        b"No ED25519 host key is known for [h]:2222 and you have requested strict checking.\r\nHost key verification failed.\r\n",
    );
    assert_eq!(e.kind, SshFailure::HostKey);
    let msg = e.to_string();
    assert!(msg.contains("Host key verification failed."), "{msg}");
    assert!(
        msg.contains("known_hosts") && msg.contains("ssh -p 2222 me@h"),
        "{msg}"
    );
    assert!(!msg.contains('\r') && !msg.contains('\n'), "{msg:?}");

    let e = SshError::classify(&s, Some(255), b"me@h: Permission denied (publickey).\n");
    assert_eq!(e.kind, SshFailure::Refused);
    assert!(e.to_string().contains("Permission denied (publickey)"));
    assert!(e.to_string().contains("authorized_keys"));

    for stderr in [
        &b"bash: line 1: docker: command not found\n"[..],
        b"sh: 1: docker: not found\n",
        b"zsh:1: command not found: docker\n",
    ] {
        let e = SshError::classify(&s, Some(127), stderr);
        assert_eq!(e.kind, SshFailure::NoRemoteDocker, "{stderr:?}");
        assert!(e.to_string().contains("install the docker CLI"));
    }
    // The remote docker refusing its socket is not ssh refusing the key.
    let e = SshError::classify(
        &s,
        Some(1),
        b"permission denied while trying to connect to the Docker daemon socket\n",
    );
    assert_eq!(e.kind, SshFailure::Exited(Some(1)));
    let e = SshError::classify(&s, Some(255), b"ssh: Could not resolve hostname h\n");
    assert_eq!(e.kind, SshFailure::Exited(Some(255)));
    assert!(
        e.to_string()
            .contains("ssh -p 2222 me@h docker system dial-stdio")
    );
}

#[test]
fn the_reason_is_the_last_lines_sanitised() {
    assert_eq!(
        reason(b"Warning: Permanently added '[h]:22' (ED25519) to the list of known hosts.\r\na\n\nb\nc\x1b[31m\nd\n"),
        "b; c?[31m; d"
    );
    assert_eq!(reason(b""), "");
    let long = "x".repeat(1000);
    assert!(reason(long.as_bytes()).chars().count() <= 401);
}

/// A stand-in for ssh: a script that ignores its arguments.
fn fake_ssh(dir: &std::path::Path, body: &str) -> String {
    let path = dir.join("fake-ssh");
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.to_string_lossy().into_owned()
}

#[tokio::test]
async fn a_failing_ssh_reads_as_its_error_and_a_clean_one_as_eof() {
    let dir = tempfile::tempdir().unwrap();
    let refused = fake_ssh(
        dir.path(),
        "echo 'me@h: Permission denied (publickey).' >&2; exit 255",
    );
    let c = SshConnector::with_program(spec("ssh://me@h"), &refused);
    let SshIo(io) = c.spawn().unwrap();
    let mut stream = io.into_inner();
    let mut buf = Vec::new();
    let err = stream.read_to_end(&mut buf).await.unwrap_err();
    let ssh = find_ssh_error(&err).expect("an SshError inside the io::Error");
    assert_eq!(ssh.kind, SshFailure::Refused);

    let echo = fake_ssh(dir.path(), "exec cat");
    let c = SshConnector::with_program(spec("ssh://h"), &echo);
    let SshIo(io) = c.spawn().unwrap();
    let mut stream = io.into_inner();
    stream.write_all(b"ping").await.unwrap();
    stream.shutdown().await.unwrap();
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf).await.unwrap();
    assert_eq!(buf, b"ping");
}

#[tokio::test]
async fn no_ssh_program_is_its_own_error() {
    let c = SshConnector::with_program(spec("ssh://h"), "/nonexistent/ssh");
    let err = c.spawn().err().unwrap();
    assert_eq!(err.kind, SshFailure::NoSshProgram);
    assert!(err.to_string().contains("install the OpenSSH client"));
}

#[tokio::test]
async fn dropping_the_connection_kills_ssh() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    let sleeper = fake_ssh(
        dir.path(),
        &format!("echo $$ > {}; exec sleep 600", pidfile.display()),
    );
    let c = SshConnector::with_program(spec("ssh://h"), &sleeper);
    let io = c.spawn().unwrap();
    let mut pid = String::new();
    for _ in 0..100 {
        pid = std::fs::read_to_string(&pidfile).unwrap_or_default();
        if !pid.trim().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let proc_dir = format!("/proc/{}", pid.trim());
    assert!(std::path::Path::new(&proc_dir).exists());
    drop(io);
    // Killed and reaped: the /proc entry goes (a zombie would keep it).
    for _ in 0..100 {
        if !std::path::Path::new(&proc_dir).exists() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the ssh process {pid} outlived its connection");
}
