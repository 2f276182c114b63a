//! Profesor's command line.

use std::path::PathBuf;

use clap::Parser;

use super::config::{Config, DEFAULT_DATA_DIR};
use crate::api::DEFAULT_PROFESOR_BIND;
use crate::telemetry::LogArgs;

/// Profesor: la API HTTP JSON que responde las preguntas difíciles y lleva
/// la cuenta de las preguntas respondidas.
#[derive(Debug, Parser)]
#[command(
    name = "profesor",
    override_usage = "profesor [OPCIONES]",
    version,
    help_template = crate::cli::HELP_TEMPLATE,
    disable_help_flag = true,
    disable_version_flag = true,
    next_help_heading = "Opciones"
)]
pub struct Args {
    /// Dirección donde escuchar (HOST:PUERTO; el puerto 0 elige uno libre)
    #[arg(long, env = "AULA_PROFESOR_BIND", default_value = DEFAULT_PROFESOR_BIND)]
    pub bind: String,
    /// Carpeta donde se guarda la cuenta de preguntas respondidas (se crea la
    /// primera vez; la cuenta sigue de una clase a la siguiente)
    #[arg(long, env = "AULA_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    /// Carpeta del material del curso (GET/POST /material; por omisión
    /// <data-dir>/material). Las entregas van a <data-dir>/entregas
    #[arg(long, env = "AULA_MATERIAL_DIR")]
    pub material_dir: Option<PathBuf>,
    /// Ofrecer sesiones de ejecución (POST /api/start, /api/write,
    /// GET /api/read...): código de la clase ejecutado en un encierro
    #[arg(long, env = "AULA_SESIONES")]
    pub sesiones: bool,
    /// El intérprete de las sesiones, con sus argumentos
    #[arg(long, env = "AULA_SESIONES_CMD", default_value = "python3 -u -i -q")]
    pub sesiones_cmd: String,
    /// Sesiones abiertas a la vez como máximo (más: 429)
    #[arg(long, env = "AULA_SESIONES_MAX", default_value_t = 16)]
    pub sesiones_max: usize,
    /// Segundos de CPU de una sesión (un bucle infinito termina ahí)
    #[arg(long, env = "AULA_SESIONES_CPU_S", default_value_t = 30)]
    pub sesiones_cpu_s: u64,
    /// Memoria (espacio de direcciones) de una sesión, en MiB
    #[arg(long, env = "AULA_SESIONES_MEMORIA_MIB", default_value_t = 1024)]
    pub sesiones_memoria_mib: u64,
    /// Procesos de las sesiones a la vez
    #[arg(long, env = "AULA_SESIONES_PROCESOS", default_value_t = 64)]
    pub sesiones_procesos: u64,
    /// Segundos sin actividad antes de terminar una sesión
    #[arg(long, env = "AULA_SESIONES_INACTIVA_S", default_value_t = 600)]
    pub sesiones_inactiva_s: u64,
    /// Segundos de vida de una sesión como máximo
    #[arg(long, env = "AULA_SESIONES_VIDA_S", default_value_t = 1800)]
    pub sesiones_vida_s: u64,
    /// `postgres://USUARIO@HOST:PUERTO/BASE`: la cuenta (y lo demás que
    /// Profesor guarda) en PostgreSQL, compartida por todos los Profesor de
    /// esa base; sin ella, SQLite en --data-dir
    #[arg(long, env = "AULA_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Hilos de trabajo HTTP
    #[arg(long, env = "AULA_PROFESOR_WORKERS", default_value_t = 2)]
    pub workers: usize,
    /// Token que piden las rutas que cambian el estado (POST /preguntas,
    /// POST /informes): `Authorization: Bearer <token>`; sin él, 401. Las
    /// lecturas siguen abiertas. Dale el mismo a tareo y docencio
    #[arg(long, env = "AULA_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Otro nombre con el que se llega a este Profesor (además de sus
    /// direcciones IP, localhost y el nombre de la máquina); se puede
    /// repetir o separar con comas. Otros `Host` reciben 403
    #[arg(
        long = "allowed-host",
        env = "AULA_ALLOWED_HOSTS",
        value_delimiter = ',',
        value_parser = parse_allowed_host
    )]
    pub allowed_hosts: Vec<String>,
    #[command(flatten)]
    pub log: LogArgs,
    #[command(flatten)]
    pub common: crate::cli::HelpArgs,
}

/// A name for `--allowed-host`: a bare host name, as it appears in `Host`
/// without the port. A URL or `name:port` would never match a request, and
/// the operator would only find out when every request got 403.
fn parse_allowed_host(text: &str) -> Result<String, String> {
    let name = text.trim();
    if name.is_empty() {
        return Err("un nombre vacío".to_owned());
    }
    if name.contains("://") || name.contains('/') {
        return Err(format!(
            "'{name}' parece una URL: da solo el nombre (p. ej. aula.example.org)"
        ));
    }
    if name.contains(':') {
        return Err(format!(
            "'{name}' lleva puerto: da solo el nombre; se acepta con cualquier puerto"
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    {
        return Err(format!(
            "'{name}' no es un nombre de máquina (letras, cifras, '.', '-')"
        ));
    }
    Ok(name.to_ascii_lowercase())
}

impl Args {
    pub fn config(&self) -> Config {
        Config {
            data_dir: self.data_dir.clone(),
            material_dir: self.material_dir.clone(),
            sesiones: self.sesiones.then(|| crate::sesiones::SesionesConfig {
                comando: self
                    .sesiones_cmd
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect(),
                limites: crate::sesiones::Limites {
                    cpu_s: self.sesiones_cpu_s.max(1),
                    memoria_bytes: self
                        .sesiones_memoria_mib
                        .max(16)
                        .saturating_mul(1024 * 1024),
                    procesos: self.sesiones_procesos.max(1),
                    inactiva_s: self.sesiones_inactiva_s.max(1),
                    vida_s: self.sesiones_vida_s.max(1),
                    ..crate::sesiones::Limites::default()
                },
                max_sesiones: self.sesiones_max.max(1),
                trampolin: None,
            }),
            workers: self.workers.max(1),
            database_url: self.database_url.clone().filter(|url| !url.is_empty()),
            token: self.token.clone(),
            allowed_hosts: self.allowed_hosts.clone(),
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
    fn help_is_in_spanish_and_names_the_role() {
        let help = Args::command().render_help().to_string();
        assert!(help.starts_with("Profesor: la API HTTP JSON"), "{help}");
        assert!(help.contains("Uso: profesor"), "{help}");
        assert!(help.contains("Muestra esta ayuda"), "{help}");
        assert!(!help.contains("Print help"), "{help}");
    }

    #[test]
    fn the_token_from_the_environment_never_shows_in_help() {
        let help = Args::command().render_long_help().to_string();
        assert!(help.contains("--token"), "{help}");
        assert!(help.contains("[env: AULA_TOKEN]"), "{help}");
    }

    #[test]
    fn an_allowed_host_is_a_bare_name() {
        let args =
            Args::try_parse_from(["profesor", "--allowed-host", "Aula.Example.org,lab-1"]).unwrap();
        assert_eq!(args.config().allowed_hosts, ["aula.example.org", "lab-1"]);
        for bad in ["http://aula.example.org", "aula:4444", "", "a b", "aula/x"] {
            let refused = Args::try_parse_from(["profesor", "--allowed-host", bad]).unwrap_err();
            assert!(
                refused.to_string().contains("--allowed-host"),
                "{bad}: {refused}"
            );
        }
    }
}
