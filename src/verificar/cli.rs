//! The grader's command line, `estudiante verificar ROL ...`: what to
//! grade from the flags, the report as it grows (on a terminal) or whole at
//! the end, the exit status, and Ctrl-C ending the graded program with the
//! run.

use std::io::{IsTerminal, Write};

use super::caso::{Caso, AVISAR};
use super::estudiante::{adopt_orphans, kill_adopted, Programa};
use super::formato::{render, texto_cabecera, texto_caso, texto_pie, Formato};
use super::{preparar, verificar, Objetivo};

/// The roles `estudiante verificar` grades.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RolVerificado {
    Docencio,
    Tareo,
    Profesor,
    /// Un programa de estudiante: aula lo arranca y hace de su Docencio
    Estudiante,
}

impl RolVerificado {
    pub fn as_str(self) -> &'static str {
        match self {
            RolVerificado::Docencio => "docencio",
            RolVerificado::Tareo => "tareo",
            RolVerificado::Profesor => "profesor",
            RolVerificado::Estudiante => "estudiante",
        }
    }
}

/// Grades `rol` at `objetivo` (or the program `comando`); returns the exit
/// status: 0 when no case failed, 1 when one did, 2 when it was called
/// wrong (like a bad flag: CI tells it from a program that failed its
/// cases), 128 + the signal when interrupted.
pub async fn run(
    rol: RolVerificado,
    objetivo: Option<&str>,
    formato: Formato,
    escuchar: Option<std::net::SocketAddr>,
    comando: &[String],
    token: Option<&str>,
) -> i32 {
    let objetivo = match objetivo_of(rol, objetivo, escuchar, comando, token)
        .and_then(|objetivo| preparar(&objetivo).map(|()| objetivo))
    {
        Ok(objetivo) => objetivo,
        Err(why) => {
            eprintln!("estudiante verificar {}: {why}", rol.as_str());
            return 2;
        }
    };
    let (printer, avisar) = Printer::start(formato);
    if printer.table_as_it_goes {
        print!("{}", texto_cabecera(objetivo.rol(), &objetivo.nombre()));
    }
    // A student program is started here: what it leaves behind, even out
    // of its process group, is ours to end.
    let program = matches!(objetivo, Objetivo::Estudiante(_));
    if program {
        adopt_orphans();
    }
    // Ctrl-C (or a CI's timeout) ends the run: the graded program and all
    // it started are killed with it.
    let informe = tokio::select! {
        informe = AVISAR.scope(avisar, verificar(&objetivo)) => Ok(informe),
        signal = stop_signal() => Err(signal),
    };
    if program {
        kill_adopted().await;
    }
    let informe = match informe {
        Ok(informe) => informe,
        Err(signal) => {
            eprintln!("estudiante verificar: interrumpido ({signal}); sin informe");
            return 128 + signal as i32;
        }
    };
    let _ = printer.task.await;
    let report = if printer.table_as_it_goes {
        texto_pie(&informe).trim_end().to_owned()
    } else {
        render(&informe, formato, printer.colour)
    };
    let _ = writeln!(std::io::stdout(), "{report}");
    if informe.failures() == 0 {
        0
    } else {
        1
    }
}

/// Says each case as it ends. On a terminal the table grows case by case
/// (a slow target's run takes minutes); a report that goes to a file is
/// printed whole at the end, with each case said on stderr meanwhile.
struct Printer {
    colour: bool,
    table_as_it_goes: bool,
    task: tokio::task::JoinHandle<()>,
}

impl Printer {
    fn start(formato: Formato) -> (Printer, tokio::sync::mpsc::UnboundedSender<Caso>) {
        let colour = std::io::stdout().is_terminal();
        let table_as_it_goes = formato == Formato::Texto && colour;
        let progress_on_stderr = !table_as_it_goes && std::io::stderr().is_terminal();
        let (avisar, mut avisos) = tokio::sync::mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
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
        let printer = Printer {
            colour,
            table_as_it_goes,
            task,
        };
        (printer, avisar)
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
fn objetivo_of(
    rol: RolVerificado,
    objetivo: Option<&str>,
    escuchar: Option<std::net::SocketAddr>,
    comando: &[String],
    token: Option<&str>,
) -> Result<Objetivo, String> {
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
