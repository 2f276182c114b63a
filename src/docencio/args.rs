//! Docencio's command line.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use super::{Config, DEFAULT_MAX_PENDING_NOTIFICATIONS};
use crate::api::{parse_profesor_url, DEFAULT_PROFESOR_URL};
use crate::server::LimitArgs;
use crate::telemetry::LogArgs;
use crate::wire::{DEFAULT_DOCENCIO_ADDR, DEFAULT_TAREO_ADDR};

/// Docencio: servidor TCP de los estudiantes y, de par a par, cliente TCP de
/// Tareo. Responde «Contenido» él mismo y avisa a Profesor de cada pregunta
/// respondida por Tareo o Profesor.
#[derive(Debug, Parser)]
#[command(
    name = "docencio",
    override_usage = "docencio [OPCIONES]",
    version,
    help_template = crate::cli::HELP_TEMPLATE,
    disable_help_flag = true,
    disable_version_flag = true,
    next_help_heading = "Opciones"
)]
pub struct Args {
    /// Dirección donde escuchar a los estudiantes (HOST:PUERTO; el puerto 0
    /// elige uno libre)
    #[arg(long, env = "AULA_DOCENCIO_BIND", default_value = DEFAULT_DOCENCIO_ADDR)]
    pub bind: String,
    /// Dirección de Tareo (HOST:PUERTO); con varios, separadas por comas (o
    /// repitiendo la opción): cada pregunta va al menos ocupado de los que
    /// están conectados, y si uno cae sus preguntas se hacen a otro
    #[arg(long = "tareo-addr", env = "AULA_TAREO_ADDR", default_value = DEFAULT_TAREO_ADDR, value_parser = crate::cli::parse_peer_addr, value_delimiter = ',', num_args = 1)]
    pub tareo_addrs: Vec<String>,
    /// URL base de Profesor, a quien se avisa de cada pregunta respondida;
    /// con varias réplicas, separadas por comas (o repitiendo la opción): se
    /// avisa a la que respondió última, y a la siguiente si esa no responde
    #[arg(long = "profesor-url", env = "AULA_PROFESOR_URL", default_value = DEFAULT_PROFESOR_URL, value_parser = parse_profesor_url, value_delimiter = ',', num_args = 1)]
    pub profesor_urls: Vec<String>,
    /// Conexiones de larga duración a Tareo, compartidas por todos los
    /// estudiantes
    #[arg(long, env = "AULA_TAREO_CONNECTIONS", default_value_t = 1)]
    pub tareo_connections: usize,
    /// Milisegundos que una pregunta puede esperar a Tareo antes de
    /// responderle `Error: ...`
    #[arg(long, env = "AULA_ANSWER_TIMEOUT_MS", default_value_t = 5000)]
    pub answer_timeout_ms: u64,
    /// Respuestas que se le pueden deber a Profesor mientras no responde;
    /// pasado ese número no se cuentan, y un aviso dice cuántas
    #[arg(long, env = "AULA_MAX_PENDING_NOTIFICATIONS", default_value_t = DEFAULT_MAX_PENDING_NOTIFICATIONS)]
    pub max_pending_notifications: u64,
    /// Carpeta donde se guarda lo que se le debe a Profesor, para que un
    /// reinicio en el mismo puerto (incluso tras kill -9) lo entregue (se
    /// crea la primera vez; archivo docencio-PUERTO.sqlite3). Sin ella,
    /// solo en memoria
    #[arg(long, env = "AULA_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Token que Profesor pide para cambiar su estado (`--token` de
    /// profesor); se envía como `Authorization: Bearer`
    #[arg(long, env = "AULA_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    #[command(flatten)]
    pub limits: LimitArgs,
    #[command(flatten)]
    pub log: LogArgs,
    #[command(flatten)]
    pub common: crate::cli::HelpArgs,
}

impl Args {
    pub fn config(&self) -> Config {
        Config {
            tareo_addr: self
                .tareo_addrs
                .iter()
                .map(|addr| addr.trim())
                .filter(|addr| !addr.is_empty())
                .collect::<Vec<_>>()
                .join(","),
            profesor_url: self.profesor_urls.join(","),
            tareo_connections: self.tareo_connections.max(1),
            answer_timeout: Duration::from_millis(self.answer_timeout_ms),
            max_pending_notifications: self.max_pending_notifications.max(1),
            data_dir: self.data_dir.clone(),
            token: self.token.clone(),
            limits: self.limits.limits(),
        }
    }
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
    fn defaults_are_the_contracts() {
        let args = Args::parse_from(["docencio"]);
        assert_eq!(args.tareo_connections, 1);
        let config = args.config();
        assert_eq!(config.answer_timeout, Duration::from_secs(5));
        assert_eq!(config.limits.idle_timeout, Duration::from_secs(60));
        assert_eq!(config.limits.max_frame, 64 * 1024);
        assert_eq!(config.tareo_addr, "127.0.0.1:4445");
        assert_eq!(args.bind, "127.0.0.1:4446");
    }

    #[test]
    fn a_bad_profesor_url_is_refused_with_the_flags() {
        assert!(Args::try_parse_from(["docencio", "--profesor-url", "nada"]).is_err());
        let https = Args::try_parse_from(["docencio", "--profesor-url", "https://x:1"])
            .unwrap_err()
            .to_string();
        assert!(https.contains("https no está disponible"), "{https}");
    }

    #[test]
    fn an_empty_or_portless_tareo_address_is_refused_at_start() {
        for bad in [",", "t1:4445,,t2:4445", "t1"] {
            let refused = Args::try_parse_from(["docencio", "--tareo-addr", bad]).unwrap_err();
            assert!(
                refused.to_string().contains("--tareo-addr"),
                "{bad}: {refused}"
            );
        }
    }
}
