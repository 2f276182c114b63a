//! `tareo`: Tareo's TCP server. See `tareo --help`.

#![forbid(unsafe_code)]

use std::process::ExitCode;

use anyhow::Context;
use aula::{shutdown, tareo, telemetry};
use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let args = tareo::Args::parse();
    telemetry::init("tareo", args.log.log_format);
    aula::fd_limit::raise_for(args.limits.max_connections as u64);
    telemetry::exit_code(run(args).await)
}

async fn run(args: tareo::Args) -> anyhow::Result<()> {
    // Before binding: a signal right after "listening" is a clean stop.
    let stop = shutdown::signal();
    let listener = aula::server::listen(&args.bind)
        .await
        .with_context(|| aula::server::busy_port_hint("tareo", &args.bind))?;
    tareo::run(listener, args.config(), stop).await?;
    Ok(())
}
