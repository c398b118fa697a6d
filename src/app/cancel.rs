//! Cancellation: Ctrl-C, SIGTERM, and EOF on the docker CLI's plugin socket all ask the
//! running command to stop; a second signal ends the process at once.

use std::sync::OnceLock;
use tokio::sync::watch;

static CANCEL: OnceLock<watch::Sender<bool>> = OnceLock::new();

/// Start watching for cancellation. Call once, inside the runtime.
pub(crate) fn start() {
    let (tx, _) = watch::channel(false);
    if CANCEL.set(tx).is_err() {
        return;
    }
    tokio::spawn(async {
        let mut signals = Signals::new();
        signals.next().await;
        trigger();
        signals.next().await;
        eprintln!("docker pushx: interrupted again: exiting now");
        std::process::exit(130);
    });
    if let Some(addr) = std::env::var_os("DOCKER_CLI_PLUGIN_SOCKET") {
        tokio::spawn(async move {
            // The CLI never writes to the socket: it closes it to say "stop". Older CLIs have
            // no socket at all, and a failed connect is ignored, as the Go plugin framework does.
            if let Ok(mut conn) = plugin_socket::connect(&addr.to_string_lossy()) {
                use tokio::io::AsyncReadExt;
                let mut buf = [0u8; 64];
                while let Ok(n) = conn.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                }
                tracing::debug!("the docker CLI closed the plugin socket");
                trigger();
            }
        });
    }
}

fn trigger() {
    if let Some(tx) = CANCEL.get() {
        tx.send_replace(true);
    }
}

/// Resolves once cancellation was asked for; never, if [`start`] was not called.
pub(crate) async fn requested() {
    let Some(tx) = CANCEL.get() else {
        return std::future::pending().await;
    };
    let mut rx = tx.subscribe();
    let _ = rx.wait_for(|v| *v).await;
}

struct Signals {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn new() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Signals {
                term: signal(SignalKind::terminate()).ok(),
                int: signal(SignalKind::interrupt()).ok(),
            }
        }
        #[cfg(not(unix))]
        Signals {}
    }

    async fn next(&mut self) {
        #[cfg(unix)]
        {
            let term = async {
                match &mut self.term {
                    Some(s) => s.recv().await,
                    None => std::future::pending().await,
                }
            };
            let int = async {
                match &mut self.int {
                    Some(s) => s.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = term => {},
                _ = int => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(unix)]
mod plugin_socket {
    /// Connect to the CLI's socket: `@name` is a Linux abstract socket (Go's convention),
    /// anything else a path.
    pub(super) fn connect(addr: &str) -> std::io::Result<tokio::net::UnixStream> {
        let std_stream = match addr.strip_prefix('@') {
            #[cfg(target_os = "linux")]
            Some(name) => {
                use std::os::linux::net::SocketAddrExt;
                let a = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
                std::os::unix::net::UnixStream::connect_addr(&a)?
            }
            _ => std::os::unix::net::UnixStream::connect(addr)?,
        };
        std_stream.set_nonblocking(true)?;
        tokio::net::UnixStream::from_std(std_stream)
    }
}

#[cfg(not(unix))]
mod plugin_socket {
    pub fn connect(_addr: &str) -> std::io::Result<std::io::Empty> {
        Err(std::io::Error::other(
            "plugin sockets are not supported here",
        ))
    }
}
