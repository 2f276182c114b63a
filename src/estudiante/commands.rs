//! `estudiante`'s subcommands: one person at a terminal (the sala, the
//! course's material, a program run on Profesor), not a simulated class;
//! `verificar` is the grader's own ([`crate::verificar::cli`]).

use std::io::Write;

use super::args::{Args, Command};
use super::{archivos, chat};

/// `estudiante SUBCOMMAND`, with the connection flags of `args`; returns
/// the exit status, having said what went wrong on stderr.
pub async fn main(args: &Args, command: &Command) -> i32 {
    let addrs = args.config().docencio_addrs;
    let addr = addrs.first().map_or("", String::as_str);
    match run(command, addr, &args.profesor_url, args.token.as_deref()).await {
        Ok(code) => code,
        Err(err) => {
            let _ = writeln!(std::io::stderr(), "estudiante: {err}");
            1
        }
    }
}

/// Runs `command` against Docencio at `addr`; the error is what to tell
/// the person.
pub async fn run(
    command: &Command,
    addr: &str,
    profesor_url: &str,
    token: Option<&str>,
) -> Result<i32, String> {
    let say = |line: String| {
        let _ = writeln!(std::io::stdout(), "{line}");
    };
    match command {
        Command::Chat { nombre, dir, .. } => {
            let stop = crate::shutdown::token_from(crate::shutdown::signal());
            chat::run(addr, nombre, dir, stop)
                .await
                .map(|()| 0)
                .map_err(|err| format!("chat: {err}"))
        }
        Command::Sesion { archivo, .. } => {
            let stop = crate::shutdown::token_from(crate::shutdown::signal());
            super::sesion::run(profesor_url, token, archivo, stop)
                .await
                .map_err(|err| format!("sesion {}: {err}", archivo.display()))
        }
        Command::Verificar {
            rol,
            objetivo,
            formato,
            escuchar,
            comando,
            ..
        } => Ok(crate::verificar::cli::run(
            *rol,
            objetivo.as_deref(),
            *formato,
            *escuchar,
            comando,
            token,
        )
        .await),
        Command::Archivos { .. } => {
            let archivos = archivos::list(addr).await.map_err(|err| err.to_string())?;
            say(archivos::show_list(&archivos));
            Ok(0)
        }
        Command::Bajar { nombre, dir, .. } => {
            let path = archivos::download(addr, nombre, dir, archivos::on_terminal())
                .await
                .map_err(|err| format!("bajar {nombre}: {err}"))?;
            say(format!("Guardado en {}", path.display()));
            Ok(0)
        }
        Command::Subir {
            archivo,
            nombre,
            como,
            ..
        } => {
            let entregado = archivos::hand_in(addr, archivo, nombre, como.as_deref())
                .await
                .map_err(|err| format!("subir {}: {err}", archivo.display()))?;
            say(format!(
                "Entregado: {} (sha256 {})",
                entregado.nombre, entregado.sha256
            ));
            Ok(0)
        }
    }
}
