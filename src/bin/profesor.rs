//! `profesor`: Profesor's HTTP JSON API. See `profesor --help`.

use anyhow::Context;
use aula::config::ProfesorArgs;
use aula::{profesor, shutdown, telemetry};
use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = ProfesorArgs::parse();
    telemetry::init();
    let listener = std::net::TcpListener::bind(&args.bind).with_context(|| {
        format!(
            "no se pudo escuchar en {} (¿otro profesor ya usa ese puerto?)",
            args.bind
        )
    })?;
    profesor::run(listener, args.config(), shutdown::signal()).await?;
    Ok(())
}
