//! `estudiante`: N simulated students asking Docencio. Prints a summary on
//! stdout when done (or on Ctrl-C). See `estudiante --help`.

use std::io::Write;
use std::process::ExitCode;

use aula::config::{EstudianteArgs, SummaryFormat};
use aula::{estudiante, shutdown, telemetry};
use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let args = EstudianteArgs::parse();
    telemetry::init("estudiante", args.log.log_format);
    aula::fd_limit::raise_for(args.students as u64);
    let summary = estudiante::run(args.config(), shutdown::signal()).await;
    // Not println!: with stdout already closed (a pipe whose reader left on
    // Ctrl-C) that would panic; the exit code still tells the outcome.
    let printed = match args.summary_format {
        SummaryFormat::Texto => summary.to_string(),
        SummaryFormat::Json => serde_json::to_string(&summary.record())
            .unwrap_or_else(|err| format!("{{\"error\":\"{err}\"}}")),
    };
    let _ = writeln!(std::io::stdout(), "{printed}");
    // An answer that is not an error and not right for its question means a
    // peer breaks the protocol: worth a failing exit for scripts.
    if summary.total.wrong > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
