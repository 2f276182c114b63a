//! `estudiante`: N simulated students asking Docencio. Prints a summary on
//! stdout when done (or on Ctrl-C). See `estudiante --help`.

#![forbid(unsafe_code)]

use std::io::Write;
use std::process::ExitCode;

use aula::estudiante;
use aula::{shutdown, telemetry};
use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let args = estudiante::Args::parse();
    if let Some(command) = &args.command {
        // The terminal is the person's: only warnings go to the log.
        telemetry::init("estudiante", args.log.log_format);
        let code = estudiante::commands::main(&args, command).await;
        // At once: the thread reading the terminal is blocked in a read
        // that nothing can cancel, and the runtime's teardown must not wait
        // on anything of it.
        let _ = std::io::stdout().flush();
        std::process::exit(code);
    }
    // Log lines step around the progress bar, when one is drawn.
    telemetry::init_with_writer("estudiante", args.log.log_format, estudiante::log_writer);
    aula::fd_limit::raise_for(args.students as u64);
    let summary = estudiante::run(args.config(), shutdown::signal()).await;
    // Not println!: with stdout already closed (a pipe whose reader left on
    // Ctrl-C) that would panic; the exit code still tells the outcome.
    let _ = writeln!(std::io::stdout(), "{}", summary.shown(args.summary_format));
    // An answer that is not an error and not right for its question means a
    // peer breaks the protocol: worth a failing exit for scripts.
    if summary.total.wrong > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
