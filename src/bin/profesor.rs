//! `profesor`: Profesor's HTTP JSON API. See `profesor --help`.

use std::process::ExitCode;

use anyhow::Context;
use aula::config::ProfesorArgs;
use aula::{profesor, shutdown, telemetry};
use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let args = ProfesorArgs::parse();
    telemetry::init("profesor", args.log.log_format);
    // HTTP clients are few (Tareo, Docencio, a browser); as many as the backlog.
    aula::fd_limit::raise_for(u64::from(aula::server::LISTEN_BACKLOG));
    telemetry::exit_code(run(args).await)
}

async fn run(args: ProfesorArgs) -> anyhow::Result<()> {
    // Before binding: a signal right after "listening" is a clean stop.
    let stop = shutdown::signal();
    let listener = bind(&args.bind).await.with_context(|| {
        format!(
            "no se pudo escuchar en {} (¿otro profesor ya usa ese puerto?)",
            args.bind
        )
    })?;
    profesor::run(listener, args.config(), stop).await?;
    Ok(())
}

/// actix-web takes a std listener; it is made with the roles' backlog.
async fn bind(addr: &str) -> std::io::Result<std::net::TcpListener> {
    aula::server::listen(addr).await?.into_std()
}
