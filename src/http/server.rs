//! The HTTP server loop: hyper's HTTP/1 connections with the limits `axum::serve` does not set. A client
//! has [`Limits::header_timeout`] to send a request's headers (a half-sent header, or a keep-alive
//! connection left idle, is closed), at most [`Limits::max_connections`] are served at once (more are
//! answered 503 and closed, so that idle sockets cannot use up the file descriptors every customer
//! needs), and a graceful shutdown waits at most [`Limits::shutdown_grace`] for requests in flight.

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// What the server allows its clients.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_timeout: Duration,
    pub max_connections: usize,
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout: Duration::from_secs(10),
            max_connections: 4096,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// File descriptors kept for the store, the log and outgoing calls when the connection cap is derived
/// from the process's limit.
const RESERVED_FDS: u64 = 128;

/// Raises the soft limit on open files to the hard limit and returns the connection cap it allows:
/// `wanted`, or fewer when the limit is lower.
pub fn connection_cap(wanted: usize) -> usize {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit and setrlimit only read and write the struct passed to them.
        let soft = unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
                return wanted;
            }
            if limit.rlim_cur < limit.rlim_max {
                let raised = libc::rlimit {
                    rlim_cur: limit.rlim_max,
                    rlim_max: limit.rlim_max,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                    limit.rlim_cur = limit.rlim_max;
                }
            }
            limit.rlim_cur
        };
        let room = usize::try_from(soft.saturating_sub(RESERVED_FDS)).unwrap_or(usize::MAX);
        if room < wanted {
            tracing::warn!(
                open_files = soft,
                connections = room,
                "the open-file limit caps the connections served at once"
            );
        }
        wanted.min(room.max(1))
    }
    #[cfg(not(unix))]
    {
        wanted
    }
}

/// The answer to a connection over the cap.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: application/json\r\nContent-Length: 55\r\nConnection: close\r\n\r\n{\"error\":\"too many connections, try again in a second\"}";

/// Serves `app` on `listener` until `stop` turns true, then lets requests in flight finish for at most
/// the grace period.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    mut stop: watch::Receiver<bool>,
    limits: Limits,
) -> std::io::Result<()> {
    let permits = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut accept_errors = 0u64;
    loop {
        let (stream, _) = tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, most often: wait a moment rather than spin, and say so
                    // once in a while, not for every attempt.
                    accept_errors += 1;
                    if accept_errors.is_power_of_two() {
                        tracing::error!(error = %e, times = accept_errors, "accepting a connection failed");
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            let _ = stream.try_write(BUSY);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _ = connection.await;
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            grace = ?limits.shutdown_grace,
            "connections still open after the grace period were closed"
        );
    }
    Ok(())
}
