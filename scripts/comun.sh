# comun.sh: what scripts/aula.sh and scripts/terminales.sh share. Sourced,
# not run.

# Sets `bin` to the folder with the four binaries: AULA_BIN_DIR if given,
# else target/release, built now (cargo only rebuilds what changed). $1 is
# the calling script's name, for messages; $2 the repository root.
#
# The release profile (fat LTO, one codegen unit) takes minutes to build
# from scratch: then the user is told so and sees cargo's own progress. When
# the binaries exist and no source is newer than them, cargo has nothing to
# do and stays quiet.
find_binaries() {
  local me="$1" root="$2"
  if [[ -n "${AULA_BIN_DIR:-}" ]]; then
    bin="$AULA_BIN_DIR"
  else
    command -v cargo >/dev/null || { echo "$me: falta cargo (instala Rust: https://rustup.rs)" >&2; exit 1; }
    bin="$root/target/release"
    local role built=1 changed="" quiet=()
    for role in profesor tareo docencio estudiante; do
      [[ -x "$bin/$role" ]] || built=0
    done
    if (( ! built )); then
      echo "$me: primera compilación en modo release: tarda unos minutos (unos 3-4 min con 2 núcleos; las siguientes, segundos). Progreso de cargo:" >&2
    else
      # Cargo decides by modification time too: a source newer than the
      # binaries means a rebuild (a minute or more with this profile).
      changed=$(cd "$root" && find src Cargo.toml Cargo.lock -type f -newer "$bin/profesor" -print -quit 2>/dev/null)
      if [[ -n "$changed" ]]; then
        echo "$me: el código cambió desde la última compilación (p. ej. $changed): recompilando en modo release (1-3 min). Progreso de cargo:" >&2
      else
        quiet=(--quiet)
      fi
    fi
    (cd "$root" && cargo build --release --bins "${quiet[@]}") || { echo "$me: la compilación falló" >&2; exit 1; }
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

# "PID N (COMMAND LINE)" of a process with PID, the command line cut to 120
# characters; just "PID N" when /proc does not show it.
describe_pid() {
  local pid="$1" cmd=""
  cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)
  cmd="${cmd% }"
  (( ${#cmd} > 120 )) && cmd="${cmd:0:117}..."
  if [[ -n "$cmd" ]]; then echo "PID $pid ($cmd)"; else echo "PID $pid"; fi
}

# The PID of the process listening on TCP PORT: from `ss -ltnp` where it
# is installed, else from /proc (the listening socket's inode in
# /proc/net/tcp*, then the process holding it). Fails when neither tells,
# as for another user's process when not root.
port_holder_pid() {
  local port="$1" line hex inode link
  if command -v ss >/dev/null; then
    line=$(ss -Hltnp "sport = :$port" 2>/dev/null)
    if [[ "$line" =~ pid=([0-9]+) ]]; then
      echo "${BASH_REMATCH[1]}"
      return 0
    fi
  fi
  [[ -r /proc/net/tcp ]] || return 1
  hex=$(printf '%04X' "$port")
  # Fields: local address (HEXIP:HEXPORT), state (0A = listening), inode.
  for inode in $(awk -v p=":$hex" '$2 ~ p"$" && $4 == "0A" { print $10 }' /proc/net/tcp /proc/net/tcp6 2>/dev/null); do
    link=$(find /proc/[0-9]*/fd -lname "socket:\[$inode\]" -print -quit 2>/dev/null)
    if [[ "$link" =~ ^/proc/([0-9]+)/ ]]; then
      echo "${BASH_REMATCH[1]}"
      return 0
    fi
  done
  return 1
}

# Explains who holds ADDR's port, for a message after "ya está en uso":
# the process and how to stop it, or how to find it when we could not.
port_holder_text() {
  local addr="$1" holder_pid name
  if holder_pid=$(port_holder_pid "$(port_of "$addr")"); then
    name=$(cat "/proc/$holder_pid/comm" 2>/dev/null)
    case "$name" in
      profesor|tareo|docencio)
        echo "por $(describe_pid "$holder_pid"), un $name de otra clase o iniciado a mano; detenlo con: kill $holder_pid" ;;
      *)
        echo "por $(describe_pid "$holder_pid")" ;;
    esac
  else
    echo "por un proceso que no se pudo identificar (¿de otro usuario? prueba: sudo ss -ltnp 'sport = :$(port_of "$addr")')"
  fi
}
