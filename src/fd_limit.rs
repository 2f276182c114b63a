//! The open-files limit: every TCP connection is a file descriptor, and the
//! usual soft limit (1024 on many desktops) is far below a class of 10,000.
//! Each binary raises its soft limit to the hard limit at start, as servers
//! commonly do, and says so when even that is short of what it was told to
//! serve.

use tracing::{debug, warn};

/// Descriptors a role needs besides its connections: the listener, logs,
/// the data files, the links to peers, the runtime's own.
const RESERVED: u64 = 64;

/// Raises this process's soft limit on open files as far as the hard limit
/// allows, and warns if that leaves room for fewer than `connections`.
/// Returns the limit now in force.
pub fn raise_for(connections: u64) -> u64 {
    let wanted = connections.saturating_add(RESERVED);
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => {
            if limit < wanted {
                warn!(
                    "El límite de archivos abiertos es {limit}: caben unas {} conexiones a la vez, no {connections}; súbelo con `ulimit -n`",
                    limit.saturating_sub(RESERVED)
                );
            } else {
                debug!("Límite de archivos abiertos: {limit}");
            }
            limit
        }
        Err(err) => {
            warn!("No se pudo consultar el límite de archivos abiertos: {err}");
            0
        }
    }
}
