//! One shutdown mechanism for every role: a [`CancellationToken`] that is
//! cancelled on Ctrl-C or SIGTERM (or by a test), which each task watches in
//! its `select!`. Servers then stop accepting, answer what they were asked,
//! and return.

use std::future::Future;

use tokio_util::sync::CancellationToken;

/// A future resolving on Ctrl-C (SIGINT) or, on Unix, SIGTERM: what a
/// terminal, the launch script and `kill` send.
///
/// The handlers are installed when this is called, not when the future is
/// first polled: a role calls it before it binds, so a SIGTERM that arrives
/// right after "Servidor escuchando" is a clean stop, never the default
/// (abrupt) death. Must be called inside a tokio runtime.
pub fn signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        async move {
            match (interrupt, terminate) {
                (Ok(mut interrupt), Ok(mut terminate)) => {
                    tokio::select! {
                        _ = interrupt.recv() => {}
                        _ = terminate.recv() => {}
                    }
                }
                (interrupt, terminate) => {
                    let err = interrupt.err().or(terminate.err());
                    tracing::warn!(
                        "no se pudo instalar el manejo de señales ({err:?}); solo Ctrl-C detiene"
                    );
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
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
