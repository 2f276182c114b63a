//! `profesor`: Profesor's HTTP JSON API. See `profesor --help`.

use std::process::ExitCode;

use anyhow::Context;
use aula::config::ProfesorArgs;
use aula::{profesor, shutdown, telemetry};
use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let args = ProfesorArgs::parse();
    telemetry::init();
    telemetry::exit_code(run(args).await)
}

async fn run(args: ProfesorArgs) -> anyhow::Result<()> {
    // Before binding: a signal right after "listening" is a clean stop.
    let stop = shutdown::signal();
    let listener = std::net::TcpListener::bind(&args.bind).with_context(|| {
        format!(
            "no se pudo escuchar en {} (¿otro profesor ya usa ese puerto?)",
            args.bind
        )
    })?;
    profesor::run(listener, args.config(), stop).await?;
    Ok(())
}
