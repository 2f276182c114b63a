//! Tareo's command line.

use std::time::Duration;

use clap::Parser;

use super::Config;
use crate::api::parse_profesor_url;
use crate::api::DEFAULT_PROFESOR_URL;
use crate::server::LimitArgs;
use crate::telemetry::LogArgs;
use crate::wire::DEFAULT_TAREO_ADDR;

/// Tareo: servidor TCP de varios clientes (los Docencio). Responde «Tarea» y
/// pregunta a Profesor por la «Pregunta Dificil».
#[derive(Debug, Parser)]
#[command(
    name = "tareo",
    override_usage = "tareo [OPCIONES]",
    version,
    help_template = crate::cli::HELP_TEMPLATE,
    disable_help_flag = true,
    disable_version_flag = true,
    next_help_heading = "Opciones"
)]
pub struct Args {
    /// Dirección donde escuchar (HOST:PUERTO; el puerto 0 elige uno libre)
    #[arg(long, env = "AULA_TAREO_BIND", default_value = DEFAULT_TAREO_ADDR)]
    pub bind: String,
    /// URL base de Profesor; con varias réplicas, separadas por comas (o
    /// repitiendo la opción): se pregunta a la que respondió última, y a la
    /// siguiente si esa no responde
    #[arg(long = "profesor-url", env = "AULA_PROFESOR_URL", default_value = DEFAULT_PROFESOR_URL, value_parser = parse_profesor_url, value_delimiter = ',', num_args = 1)]
    pub profesor_urls: Vec<String>,
    /// Milisegundos de espera a Profesor antes de responder `Error: ...`;
    /// menos que la espera de Docencio, para que el error que ve el
    /// estudiante nombre a Profesor
    #[arg(long, env = "AULA_PROFESOR_TIMEOUT_MS", default_value_t = 4000)]
    pub profesor_timeout_ms: u64,
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
            profesor_url: self.profesor_urls.join(","),
            profesor_timeout: Duration::from_millis(self.profesor_timeout_ms),
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
    fn several_profesors_by_comma_or_by_repeating_the_flag_each_checked() {
        let args = Args::parse_from([
            "tareo",
            "--profesor-url",
            "http://a:1/, http://b:2",
            "--profesor-url",
            "http://c:3",
        ]);
        assert_eq!(
            args.config().profesor_url,
            "http://a:1,http://b:2,http://c:3"
        );
        assert!(
            Args::try_parse_from(["tareo", "--profesor-url", "http://a:1,localhost:2"]).is_err()
        );
        assert_eq!(
            Args::parse_from(["tareo"]).config().profesor_url,
            "http://127.0.0.1:4444"
        );
    }
}
