//! What the four binaries' `--help` share: a Spanish layout and Spanish
//! `-h`/`-V` flags, since everything else a course user reads is Spanish.
//! Flags and environment variables keep their names (the contract's), and
//! clap's `[default: ...]` and `[env: ...]` notes stay as clap writes them.

/// The layout of every `--help`: the role's description, then its usage
/// and flags.
pub const HELP_TEMPLATE: &str = "{about-with-newline}\nUso: {usage}\n\n{all-args}{after-help}";

/// `-h`/`--help` and `-V`/`--version`, described in Spanish (each binary
/// turns clap's English ones off).
#[derive(Debug, Clone, clap::Args)]
pub struct HelpArgs {
    /// Muestra esta ayuda
    #[arg(short = 'h', long = "help", action = clap::ArgAction::Help)]
    help: Option<bool>,
    /// Muestra la versión
    #[arg(short = 'V', long = "version", action = clap::ArgAction::Version)]
    version: Option<bool>,
}

/// One `HOST:PUERTO` of a list flag (`--tareo-addr`, `--docencio-addr`):
/// refused at start when empty or without a port, instead of a role that
/// tries to connect to nothing for ever.
pub fn parse_peer_addr(text: &str) -> Result<String, String> {
    let addr = text.trim();
    if addr.is_empty() {
        return Err("una dirección vacía (¿una coma de más?)".to_owned());
    }
    match addr.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0) => {
            Ok(addr.to_owned())
        }
        _ => Err(format!(
            "'{addr}' no es HOST:PUERTO (p. ej. 127.0.0.1:4445)"
        )),
    }
}

#[cfg(test)]
mod peer_addr_tests {
    use super::parse_peer_addr;

    #[test]
    fn a_peer_address_needs_a_host_and_a_port() {
        assert_eq!(parse_peer_addr(" t1:4445 ").unwrap(), "t1:4445");
        assert_eq!(parse_peer_addr("[::1]:4445").unwrap(), "[::1]:4445");
        for bad in ["", " ", "t1", "t1:", ":4445", "t1:0", "t1:70000"] {
            assert!(parse_peer_addr(bad).is_err(), "{bad:?}");
        }
    }
}
