//! `ssh://` daemons: one `ssh … docker system dial-stdio` process per HTTP connection, its
//! stdin and stdout the connection, its stderr kept for the error message, as docker/cli's
//! `connhelper` and `commandconn` do. The process ends with the connection, and at exit.

use crate::protocol::daemon_host::SshSpec;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::process::Stdio;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command};
use tokio::sync::{oneshot, watch};

/// How much of ssh's stderr is kept (the end of it): docker keeps 4 KiB too.
const STDERR_KEPT: usize = 4096;
/// How long a connection that reached end-of-file waits for ssh's exit status, to tell a
/// failure from a connection the daemon closed (docker waits 10 s).
const EXIT_WAIT: Duration = Duration::from_secs(10);

/// Why an ssh connection to the daemon failed: one line, with the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SshError {
    kind: SshFailure,
    /// `ssh://…`, the endpoint.
    url: String,
    /// `ssh [-p PORT] [USER@]HOST`, to try by hand.
    command: String,
    /// What ssh or the remote printed (sanitised, the last lines).
    reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SshFailure {
    NoSshProgram,
    Spawn,
    HostKey,
    Refused,
    NoRemoteDocker,
    Exited(Option<i32>),
}

impl fmt::Display for SshError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (url, command, reason) = (&self.url, &self.command, &self.reason);
        match self.kind {
            SshFailure::NoSshProgram => write!(
                f,
                "cannot reach the docker daemon at {url}: no ssh program on PATH: install the OpenSSH client (apt-get install openssh-client), or point --host, DOCKER_HOST or --context at another daemon"
            ),
            SshFailure::Spawn => write!(
                f,
                "cannot reach the docker daemon at {url}: cannot run ssh ({reason}): check the ssh program on PATH"
            ),
            SshFailure::HostKey => write!(
                f,
                "cannot reach the docker daemon at {url}: ssh could not verify the host's key ({reason}): make sure it is the right host, then add its key to ~/.ssh/known_hosts (connect once with {command})"
            ),
            SshFailure::Refused => write!(
                f,
                "cannot reach the docker daemon at {url}: the host refused the login ({reason}): add your public key to the remote user's ~/.ssh/authorized_keys, or load the right key into ssh-agent (ssh-add); {command} must log in without a prompt"
            ),
            SshFailure::NoRemoteDocker => write!(
                f,
                "cannot reach the docker daemon at {url}: no docker command on the remote host ({reason}): install the docker CLI (18.09 or later) there, in a directory on the PATH of non-interactive ssh sessions"
            ),
            SshFailure::Exited(code) => {
                let code = code.map_or_else(|| "a signal".to_owned(), |c| c.to_string());
                write!(
                    f,
                    "cannot reach the docker daemon at {url}: ssh exited with {code} ({reason}): check that {command} docker system dial-stdio works"
                )
            }
        }
    }
}

impl std::error::Error for SshError {}

impl SshError {
    fn new(spec: &SshSpec, kind: SshFailure, reason: String) -> Self {
        SshError {
            kind,
            url: spec.to_string(),
            command: spec.ssh_command(),
            reason,
        }
    }

    /// What an ssh that exited with `code` and printed `stderr` means. ssh's own failures exit
    /// with 255; anything else is the remote command's status (127: not found).
    fn classify(spec: &SshSpec, code: Option<i32>, stderr: &[u8]) -> Self {
        let reason = reason(stderr);
        let lower = reason.to_lowercase();
        let kind = if code == Some(255) && lower.contains("host key verification failed") {
            SshFailure::HostKey
        } else if code == Some(255) && lower.contains("permission denied") {
            SshFailure::Refused
        } else if code == Some(127) || (lower.contains("docker") && lower.contains("not found")) {
            SshFailure::NoRemoteDocker
        } else {
            SshFailure::Exited(code)
        };
        let reason = if reason.is_empty() {
            "no message".to_owned()
        } else {
            reason
        };
        SshError::new(spec, kind, reason)
    }
}

/// The last three lines of stderr that say something, on one line, with control characters
/// replaced: it comes from another machine and goes to a terminal.
fn reason(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("Warning: Permanently added"))
        .map(|l| {
            l.chars()
                .map(|c| if c.is_control() { '?' } else { c })
                .collect()
        })
        .collect();
    let mut out = lines[lines.len().saturating_sub(3)..].join("; ");
    if out.chars().count() > 400 {
        out = out.chars().take(400).collect::<String>() + "…";
    }
    out
}

/// A hyper connector: every new connection is a new ssh process.
#[derive(Clone)]
pub(crate) struct SshConnector {
    spec: Arc<SshSpec>,
    program: Arc<std::ffi::OsString>,
}

impl SshConnector {
    pub(crate) fn new(spec: SshSpec) -> Self {
        SshConnector {
            spec: Arc::new(spec),
            program: Arc::new("ssh".into()),
        }
    }

    #[cfg(test)]
    fn with_program(spec: SshSpec, program: &str) -> Self {
        SshConnector {
            spec: Arc::new(spec),
            program: Arc::new(program.into()),
        }
    }

    fn spawn(&self) -> Result<SshIo, SshError> {
        let spec = &self.spec;
        let args = spec.ssh_args();
        tracing::debug!("starting ssh {}", args.join(" "));
        let mut child = Command::new(&*self.program)
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Killed when the supervisor goes, including when the runtime shuts down at exit.
            .kill_on_drop(true)
            // Out of the terminal's foreground group, as docker puts it in a session of its
            // own: a Ctrl-C is for docker-pushx, which then ends its connections itself.
            .process_group(0)
            .spawn()
            .map_err(|e| {
                if e.kind() == io::ErrorKind::NotFound {
                    SshError::new(spec, SshFailure::NoSshProgram, String::new())
                } else {
                    SshError::new(spec, SshFailure::Spawn, e.to_string())
                }
            })?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(SshError::new(
                spec,
                SshFailure::Spawn,
                "no pipes to the ssh process".into(),
            ));
        };
        let (exit_tx, exit_rx) = watch::channel(None);
        let (kill_tx, kill_rx) = oneshot::channel();
        tokio::spawn(supervise(child, stderr, spec.clone(), exit_tx, kill_rx));
        Ok(SshIo(TokioIo::new(SshStream {
            stdin: Some(stdin),
            stdout,
            exit: exit_rx,
            waiting: None,
            _kill: kill_tx,
        })))
    }
}

/// The outcome of one ssh process: `None` while it runs.
type Exit = Option<Result<(), SshError>>;

/// Owns the ssh process: collects its stderr and exit status, or kills it (and reaps it) as
/// soon as the connection is dropped.
async fn supervise(
    mut child: Child,
    mut stderr: ChildStderr,
    spec: Arc<SshSpec>,
    exit: watch::Sender<Exit>,
    kill: oneshot::Receiver<()>,
) {
    let run = async {
        let mut kept = Vec::new();
        let mut buf = [0u8; 1024];
        while let Ok(n) = stderr.read(&mut buf).await {
            if n == 0 {
                break;
            }
            tracing::debug!("ssh: {}", String::from_utf8_lossy(&buf[..n]).trim_end());
            kept.extend_from_slice(&buf[..n]);
            if kept.len() > STDERR_KEPT {
                kept.drain(..kept.len() - STDERR_KEPT);
            }
        }
        (child.wait().await, kept)
    };
    tokio::select! {
        (status, kept) = run => {
            let outcome = match status {
                Ok(s) if s.success() => Ok(()),
                Ok(s) => Err(SshError::classify(&spec, s.code(), &kept)),
                Err(e) => Err(SshError::new(&spec, SshFailure::Spawn, e.to_string())),
            };
            exit.send_replace(Some(outcome));
            return;
        }
        _ = kill => {}
    }
    let _ = child.start_kill();
    let _ = child.wait().await;
}

/// The connection: writes go to ssh's stdin, reads come from its stdout. At end-of-file (or a
/// broken pipe) it waits for ssh's exit status, and a failed ssh becomes an [`SshError`].
struct SshStream {
    /// `None` once shut down: closing it is ssh's (and the remote's) end-of-file.
    stdin: Option<ChildStdin>,
    stdout: ChildStdout,
    exit: watch::Receiver<Exit>,
    waiting: Option<Pin<Box<dyn Future<Output = Option<SshError>> + Send>>>,
    /// Dropped with the stream: tells the supervisor to kill ssh.
    _kill: oneshot::Sender<()>,
}

impl SshStream {
    /// Ready with ssh's failure, or `None` if it exited cleanly (or did not exit in time).
    fn poll_failure(&mut self, cx: &mut Context<'_>) -> Poll<Option<SshError>> {
        let waiting = self.waiting.get_or_insert_with(|| {
            let mut rx = self.exit.clone();
            Box::pin(async move {
                let exit = tokio::time::timeout(EXIT_WAIT, rx.wait_for(Option::is_some)).await;
                match exit {
                    Ok(Ok(e)) => e.clone().and_then(Result::err),
                    _ => None,
                }
            })
        });
        waiting.as_mut().poll(cx)
    }
}

impl AsyncRead for SshStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.waiting.is_none() {
            let before = buf.filled().len();
            ready!(Pin::new(&mut this.stdout).poll_read(cx, buf))?;
            if buf.filled().len() > before || buf.remaining() == 0 {
                return Poll::Ready(Ok(()));
            }
        }
        match ready!(this.poll_failure(cx)) {
            Some(e) => Poll::Ready(Err(io::Error::other(e))),
            None => Poll::Ready(Ok(())),
        }
    }
}

impl AsyncWrite for SshStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let Some(stdin) = this.stdin.as_mut() else {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        };
        match ready!(Pin::new(stdin).poll_write(cx, buf)) {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                match ready!(this.poll_failure(cx)) {
                    Some(failure) => Poll::Ready(Err(io::Error::other(failure))),
                    None => Poll::Ready(Err(e)),
                }
            }
            r => Poll::Ready(r),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut().stdin.as_mut() {
            Some(stdin) => Pin::new(stdin).poll_flush(cx),
            None => Poll::Ready(Ok(())),
        }
    }

    /// Closes ssh's stdin (a pipe's shutdown does not close it by itself).
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(stdin) = this.stdin.as_mut() {
            ready!(Pin::new(stdin).poll_flush(cx))?;
        }
        this.stdin = None;
        Poll::Ready(Ok(()))
    }
}

/// [`SshStream`] as hyper sees a connection.
pub(crate) struct SshIo(TokioIo<SshStream>);

impl Connection for SshIo {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl Read for SshIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl Write for SshIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

impl tower_service::Service<http::Uri> for SshConnector {
    type Response = SshIo;
    type Error = SshError;
    type Future = Pin<Box<dyn Future<Output = Result<SshIo, SshError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), SshError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { this.spawn() })
    }
}

/// The [`SshError`] somewhere in `e`'s cause chain (hyper keeps it inside an `io::Error`).
pub(crate) fn find_ssh_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a SshError> {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(s) = err.downcast_ref::<SshError>() {
            return Some(s);
        }
        if let Some(s) = err
            .downcast_ref::<io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<SshError>())
        {
            return Some(s);
        }
        cur = err.source();
    }
    None
}

#[cfg(test)]
mod tests;
