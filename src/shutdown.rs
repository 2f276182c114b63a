//! One shutdown mechanism for every role: a [`CancellationToken`] that is
//! cancelled on Ctrl-C or SIGTERM (or by a test), which each task watches in
//! its `select!`. Servers then stop accepting, answer what they were asked,
//! and return.

use std::future::Future;

use tokio_util::sync::CancellationToken;

/// Resolves on Ctrl-C (SIGINT) or, on Unix, SIGTERM: what a terminal, the
/// launch script and `kill` send.
pub async fn signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(err) => {
                tracing::warn!("no se pudo escuchar SIGTERM ({err}); solo Ctrl-C detiene");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// A token cancelled when `trigger` resolves. Roles take any future as their
/// shutdown signal (tests pass their own) and turn it into a token here.
pub fn token_from(trigger: impl Future<Output = ()> + Send + 'static) -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        tokio::select! {
            () = trigger => cancel.cancel(),
            // Nothing left to signal: the role ended on its own.
            () = cancel.cancelled() => {}
        }
    });
    token
}
