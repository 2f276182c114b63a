//! This machine's name, which Profesor's guard accepts as a `Host` and
//! every role sends with its informes so that the panel says which machine
//! each instance runs on.

/// This machine's name, lower-case (Linux; `None` elsewhere or when unset).
pub fn name() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| !name.is_empty())
}
