//! `tareo`: Tareo's TCP server. See `tareo --help`.

use anyhow::Context;
use aula::config::TareoArgs;
use aula::{shutdown, tareo, telemetry};
use clap::Parser;
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = TareoArgs::parse();
    telemetry::init();
    let listener = TcpListener::bind(&args.bind).await.with_context(|| {
        format!(
            "no se pudo escuchar en {} (¿otro tareo ya usa ese puerto?)",
            args.bind
        )
    })?;
    tareo::run(listener, args.config(), shutdown::signal()).await
}
