//! Estudiante's command line.

use std::time::Duration;

use clap::Parser;

use super::{Config, Naming};
use crate::telemetry::LogArgs;
use crate::wire::mensaje::Nombre;
use crate::wire::{Question, DEFAULT_DOCENCIO_ADDR};

/// Estudiante: N estudiantes simulados que hacen preguntas al azar a Docencio.
///
/// Al terminar (o con Ctrl-C) imprime un resumen; sale con 1 si alguna
/// respuesta no fue ni un `Error: ...` ni la correcta para su pregunta.
#[derive(Debug, Parser)]
#[command(
    name = "estudiante",
    override_usage = "estudiante [OPCIONES]\n       estudiante chat --nombre NOMBRE [--docencio-addr HOST:PUERTO]",
    version,
    long_about,
    help_template = crate::cli::HELP_TEMPLATE,
    disable_help_flag = true,
    disable_version_flag = true,
    next_help_heading = "Opciones"
)]
pub struct Args {
    /// Dirección de Docencio (HOST:PUERTO); con varias (separadas por comas,
    /// o repitiendo la opción), el estudiante i va a la i mod n, y quien
    /// pierde su Docencio sigue en el siguiente que lo acepte
    #[arg(long = "docencio-addr", env = "AULA_DOCENCIO_ADDR", default_value = DEFAULT_DOCENCIO_ADDR, value_parser = crate::cli::parse_peer_addr, value_delimiter = ',', num_args = 1, global = true)]
    pub docencio_addrs: Vec<String>,
    /// Profesor (para `estudiante sesion`)
    #[arg(long, env = "AULA_PROFESOR_URL", default_value = crate::api::DEFAULT_PROFESOR_URL, global = true)]
    pub profesor_url: String,
    /// El token de la clase, si Profesor lo pide (para `estudiante sesion` y `verificar profesor`)
    #[arg(long, env = "AULA_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Estudiantes simulados, una conexión cada uno, en este proceso
    #[arg(long, default_value_t = 1)]
    pub students: usize,
    /// Preguntas por estudiante; sin esta opción, pregunta para siempre como
    /// en el cuaderno
    #[arg(long)]
    pub questions: Option<u64>,
    /// Hace la siguiente pregunta apenas llega la respuesta (sin la pausa de
    /// 1 a 6 s)
    #[arg(long)]
    pub no_pause: bool,
    /// Semilla para repetir exactamente las preguntas y las pausas
    #[arg(long)]
    pub seed: Option<u64>,
    /// Preguntas que cada estudiante envía antes de leer respuestas
    #[arg(long, default_value_t = 1)]
    pub in_flight: usize,
    /// Preguntar solo esta pregunta (Contenido, Tarea o "Pregunta Dificil")
    #[arg(long, value_parser = parse_question)]
    pub only: Option<Question>,
    /// Milisegundos de espera de una respuesta antes de abandonar la
    /// conexión y abrirla de nuevo
    #[arg(long, default_value_t = 30_000)]
    pub answer_timeout_ms: u64,
    /// Todos los estudiantes se conectan antes de que ninguno pregunte: una
    /// clase de N conectada a la vez
    #[arg(long)]
    pub connect_first: bool,
    /// Entrar en la sala con este nombre (dice `hola` antes de preguntar):
    /// recibe los anuncios del Profesor como mensajes, y el resumen los
    /// cuenta. Con varios estudiantes, cada uno lleva un número detrás
    #[arg(long, value_parser = parse_nombre, conflicts_with = "nombre_prefijo")]
    pub nombre: Option<String>,
    /// Cada estudiante entra en la sala como PREFIJO1, PREFIJO2, ...
    #[arg(long, value_parser = parse_nombre)]
    pub nombre_prefijo: Option<String>,
    /// El resumen: `texto` (unas líneas legibles) o `json` (un objeto JSON
    /// en una línea, para programas)
    #[arg(long, value_enum, default_value_t = SummaryFormat::Texto, hide_possible_values = true)]
    pub summary_format: SummaryFormat,
    #[command(flatten)]
    pub log: LogArgs,
    #[command(flatten)]
    pub common: crate::cli::HelpArgs,
}

/// What `estudiante` does besides simulating a class.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// La sala en esta terminal: lo que escribes va al chat de la clase; ves
    /// lo que escriben los demás (de todos los Docencio) y los anuncios del
    /// Profesor, con la hora. /quien dice quién está; /salir o Ctrl-C sale
    #[command(help_template = crate::cli::HELP_TEMPLATE, disable_help_flag = true, next_help_heading = "Opciones")]
    Chat {
        /// Tu nombre en la sala (único entre los conectados)
        #[arg(long, value_parser = parse_nombre_propio)]
        nombre: Nombre,
        /// Dónde guardar los archivos que el Profesor envía a todos
        #[arg(long, default_value = ".")]
        dir: std::path::PathBuf,
        /// Muestra esta ayuda
        #[arg(short = 'h', long = "help", action = clap::ArgAction::Help)]
        help: Option<bool>,
    },
    /// El material del curso: nombre, tamaño y SHA-256 de cada archivo
    #[command(help_template = crate::cli::HELP_TEMPLATE, disable_help_flag = true, next_help_heading = "Opciones")]
    Archivos {
        /// Muestra esta ayuda
        #[arg(short = 'h', long = "help", action = clap::ArgAction::Help)]
        help: Option<bool>,
    },
    /// Baja un archivo del material (retoma una descarga cortada; comprueba
    /// el SHA-256 antes de dejarlo con su nombre)
    #[command(help_template = crate::cli::HELP_TEMPLATE, disable_help_flag = true, next_help_heading = "Opciones")]
    Bajar {
        /// El nombre del archivo, como lo lista `estudiante archivos`
        nombre: String,
        /// La carpeta donde dejarlo
        #[arg(long, default_value = ".")]
        dir: std::path::PathBuf,
        /// Muestra esta ayuda
        #[arg(short = 'h', long = "help", action = clap::ArgAction::Help)]
        help: Option<bool>,
    },
    /// Ejecuta un archivo en una sesión de ejecución del Profesor y muestra
    /// lo que imprime (Profesor con --sesiones); Ctrl-C la termina
    #[command(help_template = crate::cli::HELP_TEMPLATE, disable_help_flag = true, next_help_heading = "Opciones")]
    Sesion {
        /// El programa (Python, o lo que ejecute el Profesor)
        archivo: std::path::PathBuf,
        /// Muestra esta ayuda
        #[arg(short = 'h', long = "help", action = clap::ArgAction::Help)]
        help: Option<bool>,
    },
    /// Califica una implementación de un rol contra el contrato: casos
    /// numerados por sección, un veredicto cada uno; sale con 0 solo si
    /// ninguno falla
    #[command(help_template = crate::cli::HELP_TEMPLATE, disable_help_flag = true, next_help_heading = "Opciones")]
    Verificar {
        /// El rol a calificar
        #[arg(value_enum)]
        rol: RolVerificado,
        /// Dónde está: HOST:PUERTO (docencio, tareo) o la URL (profesor);
        /// para estudiante, nada: el programa va después de --
        objetivo: Option<String>,
        /// El informe: texto, json, junit o gradescope
        #[arg(long, value_enum, default_value_t = crate::verificar::formato::Formato::Texto)]
        formato: crate::verificar::formato::Formato,
        /// estudiante: dónde escucha aula como Docencio del programa
        /// (IP:PUERTO; por omisión 127.0.0.1 y un puerto libre)
        #[arg(long, value_name = "IP:PUERTO")]
        escuchar: Option<std::net::SocketAddr>,
        /// estudiante: el programa y sus argumentos, después de --; {host},
        /// {puerto} y {addr} se reemplazan por dónde escucha aula (también
        /// en AULA_DOCENCIO_ADDR). Ej.: -- python3 estudiante.py {host} {puerto}
        #[arg(last = true, value_name = "PROGRAMA")]
        comando: Vec<String>,
        /// Muestra esta ayuda
        #[arg(short = 'h', long = "help", action = clap::ArgAction::Help)]
        help: Option<bool>,
    },
    /// Entrega un archivo (queda en las entregas del Profesor, bajo tu nombre)
    #[command(help_template = crate::cli::HELP_TEMPLATE, disable_help_flag = true, next_help_heading = "Opciones")]
    Subir {
        /// El archivo a entregar
        archivo: std::path::PathBuf,
        /// Tu nombre (el de la sala)
        #[arg(long, value_parser = parse_nombre_propio)]
        nombre: Nombre,
        /// Entregarlo con otro nombre de archivo
        #[arg(long)]
        como: Option<String>,
        /// Muestra esta ayuda
        #[arg(short = 'h', long = "help", action = clap::ArgAction::Help)]
        help: Option<bool>,
    },
}

/// The roles `estudiante verificar` grades (the grader's own).
pub use crate::verificar::cli::RolVerificado;

/// How `estudiante` prints its summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SummaryFormat {
    /// Unas líneas legibles
    Texto,
    /// Un objeto JSON en una línea
    Json,
}

impl Args {
    pub fn config(&self) -> Config {
        Config {
            docencio_addrs: self
                .docencio_addrs
                .iter()
                .map(|addr| addr.trim().to_owned())
                .filter(|addr| !addr.is_empty())
                .collect(),
            students: self.students,
            questions: self.questions,
            pause: !self.no_pause,
            seed: self.seed,
            in_flight: self.in_flight.max(1),
            only: self.only,
            answer_timeout: Duration::from_millis(self.answer_timeout_ms),
            connect_first: self.connect_first,
            names: match (&self.nombre, &self.nombre_prefijo) {
                (Some(nombre), _) if self.students == 1 => Naming::One(nombre.clone()),
                (Some(prefix), _) | (None, Some(prefix)) => Naming::Prefix(prefix.clone()),
                (None, None) => Naming::None,
            },
        }
    }
}

/// A name the sala takes (the longest with a student number after it).
fn parse_nombre(text: &str) -> Result<String, String> {
    let nombre = crate::wire::mensaje::check_nombre(text).map_err(|err| err.to_string())?;
    if nombre.chars().count() > crate::wire::mensaje::MAX_NOMBRE - 6 {
        return Err(format!(
            "como mucho {} caracteres (se le añade el número de estudiante)",
            crate::wire::mensaje::MAX_NOMBRE - 6
        ));
    }
    Ok(nombre)
}

/// One student's own name, checked as [`parse_nombre`] checks it.
fn parse_nombre_propio(text: &str) -> Result<Nombre, String> {
    Nombre::parse(&parse_nombre(text)?).map_err(|err| err.to_string())
}

fn parse_question(text: &str) -> Result<Question, String> {
    Question::parse(text.as_bytes()).map_err(|refusal| refusal.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn flag_definitions_are_consistent() {
        Args::command().debug_assert();
    }

    #[test]
    fn several_docencios_by_comma_or_by_repeating_the_flag() {
        let by_comma = Args::parse_from(["estudiante", "--docencio-addr", "a:1, b:2"]);
        assert_eq!(by_comma.config().docencio_addrs, ["a:1", "b:2"]);
        let repeated = Args::parse_from([
            "estudiante",
            "--docencio-addr",
            "a:1",
            "--docencio-addr",
            "b:2,c:3",
        ]);
        assert_eq!(repeated.config().docencio_addrs, ["a:1", "b:2", "c:3"]);
        assert_eq!(
            Args::parse_from(["estudiante"]).config().docencio_addrs,
            ["127.0.0.1:4446"]
        );
    }

    #[test]
    fn only_accepts_the_three_questions() {
        let args = Args::parse_from(["estudiante", "--only", "pregunta difícil"]);
        assert_eq!(args.only, Some(Question::PreguntaDificil));
        assert!(Args::try_parse_from(["estudiante", "--only", "Hola"]).is_err());
    }
}
