//! `profesor`: Profesor's HTTP JSON API. See `profesor --help`.

#![forbid(unsafe_code)]

use std::process::ExitCode;

use anyhow::Context;
use aula::{profesor, sesiones, shutdown, telemetry};
use clap::Parser;

fn main() -> ExitCode {
    // A session's trampoline confines itself and becomes the interpreter:
    // before any thread or runtime exists.
    let raw: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if raw
        .get(1)
        .is_some_and(|arg| arg == sesiones::TRAMPOLINE_ARG)
    {
        let code = sesiones::sandbox::run_trampoline(raw);
        return ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    if raw.get(1).is_some_and(|arg| arg == sesiones::KILL_ARG) {
        let code = sesiones::sandbox::kill_user(raw);
        return ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime.block_on(serve()),
        Err(err) => {
            eprintln!("profesor: no se pudo iniciar: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn serve() -> ExitCode {
    let args = profesor::Args::parse();
    telemetry::init("profesor", args.log.log_format);
    // HTTP clients are few (Tareo, Docencio, a browser); as many as the backlog.
    aula::fd_limit::raise_for(u64::from(aula::server::LISTEN_BACKLOG));
    telemetry::exit_code(run(args).await)
}

async fn run(args: profesor::Args) -> anyhow::Result<()> {
    // Before binding: a signal right after "listening" is a clean stop.
    let stop = shutdown::signal();
    let listener = aula::server::listen(&args.bind)
        .await
        .and_then(|listener| listener.into_std())
        .with_context(|| aula::server::busy_port_hint("profesor", &args.bind))?;
    profesor::run(listener, args.config(), stop).await?;
    Ok(())
}
