//! `docencio`: Docencio's TCP server for students, client of Tareo. See
//! `docencio --help`.

use anyhow::Context;
use aula::config::DocencioArgs;
use aula::{docencio, shutdown, telemetry};
use clap::Parser;
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = DocencioArgs::parse();
    telemetry::init();
    let listener = TcpListener::bind(&args.bind).await.with_context(|| {
        format!(
            "no se pudo escuchar en {} (¿otro docencio ya usa ese puerto?)",
            args.bind
        )
    })?;
    docencio::run(listener, args.config(), shutdown::signal()).await
}
