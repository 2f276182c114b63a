//! `estudiante`: N simulated students asking Docencio. Prints a summary on
//! stdout when done (or on Ctrl-C). See `estudiante --help`.

use aula::config::EstudianteArgs;
use aula::{estudiante, shutdown, telemetry};
use clap::Parser;

#[tokio::main]
async fn main() {
    let args = EstudianteArgs::parse();
    telemetry::init();
    let summary = estudiante::run(args.config(), shutdown::signal()).await;
    println!("{summary}");
}
