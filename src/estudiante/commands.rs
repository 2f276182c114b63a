//! `estudiante`'s subcommands: one person at a terminal (the sala, the
//! course's material), not a simulated class.

use std::io::Write;

use super::args::Command;
use super::{archivos, chat};

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
        } => {
            use crate::verificar::{formato::render, preparar, verificar};
            // A mistake in how it was called exits 2, like a bad flag: CI
            // tells it from a program that failed its cases (1).
            let objetivo =
                match verificar_objetivo(*rol, objetivo.as_deref(), *escuchar, comando, token)
                    .and_then(|objetivo| preparar(&objetivo).map(|()| objetivo))
                {
                    Ok(objetivo) => objetivo,
                    Err(why) => {
                        eprintln!("estudiante verificar {}: {why}", rol.as_str());
                        return Ok(2);
                    }
                };
            use crate::verificar::formato::{texto_cabecera, texto_caso, texto_pie, Formato};
            use std::io::IsTerminal;
            // On a terminal the table grows case by case (a slow target's
            // run takes minutes); a report that goes to a file is printed
            // whole at the end, with each case said on stderr meanwhile.
            let colour = std::io::stdout().is_terminal();
            let table_as_it_goes = *formato == Formato::Texto && colour;
            let progress_on_stderr = !table_as_it_goes && std::io::stderr().is_terminal();
            let (avisar, mut avisos) = tokio::sync::mpsc::unbounded_channel();
            let printer = tokio::spawn(async move {
                let mut section = String::new();
                while let Some(caso) = avisos.recv().await {
                    let line = texto_caso(&caso, colour || progress_on_stderr, &mut section);
                    if table_as_it_goes {
                        print!("{line}");
                        let _ = std::io::stdout().flush();
                    } else if progress_on_stderr {
                        eprint!("{line}");
                    }
                }
            });
            if table_as_it_goes {
                print!("{}", texto_cabecera(objetivo.rol(), &objetivo.nombre()));
            }
            // A student program is started here: what it leaves behind,
            // even out of its process group, is ours to end.
            let program = matches!(objetivo, crate::verificar::Objetivo::Estudiante(_));
            if program {
                crate::verificar::estudiante::adopt_orphans();
            }
            // Ctrl-C (or a CI's timeout) ends the run: the graded program
            // and all it started are killed with it.
            let informe = tokio::select! {
                informe = crate::verificar::caso::AVISAR.scope(avisar, verificar(&objetivo)) => Ok(informe),
                signal = stop_signal() => Err(signal),
            };
            if program {
                crate::verificar::estudiante::kill_adopted().await;
            }
            let informe = match informe {
                Ok(informe) => informe,
                Err(signal) => {
                    eprintln!("estudiante verificar: interrumpido ({signal}); sin informe");
                    return Ok(128 + signal as i32);
                }
            };
            let _ = printer.await;
            if table_as_it_goes {
                say(texto_pie(&informe).trim_end().to_owned());
            } else {
                say(render(&informe, *formato, colour));
            }
            Ok(if informe.failures() == 0 { 0 } else { 1 })
        }
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
            let entregado = archivos::upload(addr, archivo, nombre, como.as_deref())
                .await
                .map_err(|err| format!("subir {}: {err}", archivo.display()))?;
            say(format!(
                "Entregado: {} (sha256 {})",
                entregado["nombre"].as_str().unwrap_or_default(),
                entregado["sha256"].as_str().unwrap_or_default()
            ));
            Ok(0)
        }
    }
}

/// The first of SIGINT, SIGTERM, SIGHUP (the terminal closed) and SIGQUIT:
/// any of them ends a run of `verificar`, which then ends what it started
/// (a program in its own process group gets none of the terminal's).
async fn stop_signal() -> nix::sys::signal::Signal {
    use nix::sys::signal::Signal;
    use tokio::signal::unix::{signal, SignalKind};
    let mut watched = Vec::new();
    for (kind, name) in [
        (SignalKind::interrupt(), Signal::SIGINT),
        (SignalKind::terminate(), Signal::SIGTERM),
        (SignalKind::hangup(), Signal::SIGHUP),
        (SignalKind::quit(), Signal::SIGQUIT),
    ] {
        if let Ok(stream) = signal(kind) {
            watched.push(Box::pin(async move {
                let mut stream = stream;
                stream.recv().await;
                name
            }));
        }
    }
    if watched.is_empty() {
        return std::future::pending().await;
    }
    futures::future::select_all(watched).await.0
}

/// What `estudiante verificar ROL ...` grades: an address for the servers,
/// a program after `--` for a student.
fn verificar_objetivo(
    rol: super::args::RolVerificado,
    objetivo: Option<&str>,
    escuchar: Option<std::net::SocketAddr>,
    comando: &[String],
    token: Option<&str>,
) -> Result<crate::verificar::Objetivo, String> {
    use super::args::RolVerificado;
    use crate::verificar::{estudiante::Programa, Objetivo};
    let rol_name = rol.as_str();
    match (rol, objetivo) {
        (RolVerificado::Estudiante, Some(extra)) => Err(format!(
            "no lleva dirección ({extra:?}): aula escucha como su Docencio; el programa va después de --, p. ej. -- python3 estudiante.py {{host}} {{puerto}}"
        )),
        (RolVerificado::Estudiante, None) if comando.is_empty() => Err(
            "el programa va después de --, p. ej. estudiante verificar estudiante -- python3 estudiante.py {host} {puerto}".into(),
        ),
        (RolVerificado::Estudiante, None) => Ok(Objetivo::Estudiante(Programa {
            comando: comando.to_vec(),
            escuchar: escuchar.unwrap_or(std::net::SocketAddr::from(([127, 0, 0, 1], 0))),
        })),
        (_, _) if !comando.is_empty() => Err(format!(
            "un programa después de -- solo se usa con verificar estudiante, no con verificar {rol_name}"
        )),
        (_, None) => Err(format!(
            "falta dónde está: {}",
            if rol == RolVerificado::Profesor {
                "su URL, p. ej. http://127.0.0.1:4444"
            } else {
                "HOST:PUERTO, p. ej. 127.0.0.1:4446"
            }
        )),
        (_, Some(_)) if escuchar.is_some() => Err(format!(
            "--escuchar solo se usa con verificar estudiante, no con verificar {rol_name}"
        )),
        (RolVerificado::Docencio, Some(addr)) => Ok(Objetivo::Docencio(addr.to_owned())),
        (RolVerificado::Tareo, Some(addr)) => Ok(Objetivo::Tareo(addr.to_owned())),
        (RolVerificado::Profesor, Some(url)) => Ok(Objetivo::Profesor {
            url: url.to_owned(),
            token: token.map(str::to_owned),
        }),
    }
}
