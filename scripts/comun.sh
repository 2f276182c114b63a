# comun.sh: what scripts/aula.sh and scripts/terminales.sh share. Sourced,
# not run.

# Sets `bin` to the folder with the four binaries: AULA_BIN_DIR if given,
# else target/release, built now (cargo only rebuilds what changed). $1 is
# the calling script's name, for messages; $2 the repository root.
find_binaries() {
  local me="$1" root="$2"
  if [[ -n "${AULA_BIN_DIR:-}" ]]; then
    bin="$AULA_BIN_DIR"
  else
    command -v cargo >/dev/null || { echo "$me: falta cargo (instala Rust: https://rustup.rs)" >&2; exit 1; }
    echo "$me: compilando (cargo build --release)..." >&2
    (cd "$root" && cargo build --release --bins --quiet) || { echo "$me: la compilación falló" >&2; exit 1; }
    bin="$root/target/release"
  fi
  local role
  for role in profesor tareo docencio estudiante; do
    [[ -x "$bin/$role" ]] || { echo "$me: no existe $bin/$role" >&2; exit 1; }
  done
}

host_of() { echo "${1%:*}"; }
port_of() { echo "${1##*:}"; }

# True when something already accepts connections on HOST:PORT.
accepts() {
  (exec 3<>"/dev/tcp/$(host_of "$1")/$(port_of "$1")") 2>/dev/null
}
