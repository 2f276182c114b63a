#!/usr/bin/env bash
# aula.sh: runs the whole class in one terminal.
#
# Starts the roles in the notebook's order, each only once the one before
# accepts connections: profesor (waits until it answers HTTP), tareo and
# docencio (wait until their ports accept), then the students. Every line of
# every role is shown prefixed by the role's name (coloured on a terminal)
# and written to logs/<role>.log. Ctrl-C, SIGTERM or --duration stop
# everything this script started, by the PIDs it recorded, and it exits 0.
# A role that dies at start-up is named, with its last log lines, and the
# script exits 1.
set -uo pipefail

usage() {
  cat <<'TXT'
Uso: scripts/aula.sh [--students N] [--duration S] [-- OPCIONES DE ESTUDIANTE...]

  --students N   estudiantes simulados (por defecto 3)
  --duration S   detener la clase después de S segundos (por defecto: hasta Ctrl-C)
  -- ...         todo lo demás va a `estudiante` (p. ej. -- --no-pause --questions 10 --seed 1)

Direcciones (variables de entorno, como las de cada binario):
  AULA_PROFESOR_BIND (127.0.0.1:4444)  AULA_TAREO_BIND (127.0.0.1:4445)
  AULA_DOCENCIO_BIND (127.0.0.1:4446)  AULA_DATA_DIR (./aula-datos)
Otras: AULA_LOG_DIR (./logs), AULA_BIN_DIR (usar binarios ya compilados), RUST_LOG.
TXT
}

students=3
duration=""
student_args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --students) students="${2:?--students necesita un número}"; shift 2 ;;
    --duration) duration="${2:?--duration necesita segundos}"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    --) shift; student_args=("$@"); break ;;
    *) echo "aula.sh: opción desconocida: $1" >&2; usage >&2; exit 2 ;;
  esac
done
[[ "$students" =~ ^[0-9]+$ ]] || { echo "aula.sh: --students debe ser un número: $students" >&2; exit 2; }
[[ -z "$duration" || "$duration" =~ ^[0-9]+$ ]] || { echo "aula.sh: --duration debe ser un número de segundos: $duration" >&2; exit 2; }

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# shellcheck source=scripts/comun.sh
source "$root/scripts/comun.sh"
find_binaries aula.sh "$root"

export AULA_PROFESOR_BIND="${AULA_PROFESOR_BIND:-127.0.0.1:4444}"
export AULA_TAREO_BIND="${AULA_TAREO_BIND:-127.0.0.1:4445}"
export AULA_DOCENCIO_BIND="${AULA_DOCENCIO_BIND:-127.0.0.1:4446}"
export AULA_PROFESOR_URL="${AULA_PROFESOR_URL:-http://$AULA_PROFESOR_BIND}"
export AULA_TAREO_ADDR="${AULA_TAREO_ADDR:-$AULA_TAREO_BIND}"
export AULA_DOCENCIO_ADDR="${AULA_DOCENCIO_ADDR:-$AULA_DOCENCIO_BIND}"
export AULA_DATA_DIR="${AULA_DATA_DIR:-$root/aula-datos}"
log_dir="${AULA_LOG_DIR:-$root/logs}"
mkdir -p "$log_dir" || exit 1

# Role name -> colour (only on a terminal) and recorded PID.
declare -A colour=([profesor]=35 [tareo]=33 [docencio]=36 [estudiante]=32)
declare -A pid=()
order=(profesor tareo docencio estudiante)

for pair in "profesor=$AULA_PROFESOR_BIND" "tareo=$AULA_TAREO_BIND" "docencio=$AULA_DOCENCIO_BIND"; do
  role="${pair%%=*}"; addr="${pair#*=}"
  if accepts "$addr"; then
    var="AULA_${role^^}_BIND"
    echo "aula.sh: el puerto $(port_of "$addr") de $role ($addr) ya está en uso: ¿hay otra clase corriendo?" >&2
    echo "aula.sh: deténla, o elige otra dirección: $var=$(host_of "$addr"):OTRO_PUERTO scripts/aula.sh" >&2
    exit 1
  fi
done

start() {
  local role="$1"; shift
  local tag
  if [[ -t 1 ]]; then
    tag=$(printf '\033[1;%sm%-10s|\033[0m ' "${colour[$role]}" "$role")
  else
    tag=$(printf '%-10s| ' "$role")
  fi
  : > "$log_dir/$role.log"
  # The prefixer ignores Ctrl-C and SIGTERM: a terminal's Ctrl-C reaches the
  # whole process group, and the prefixer must outlive the role to show (and
  # log) its last lines, such as the students' summary. It ends when the
  # role's output closes.
  "$@" < /dev/null > >(trap '' INT TERM; tee -a "$log_dir/$role.log" | sed -u "s/^/$tag/") 2>&1 &
  pid[$role]=$!
}

# True while ROLE's process runs. An exited child stays a zombie until bash
# reaps it, and `kill -0` succeeds on a zombie: read its state instead.
alive() {
  local p="${pid[$1]:-}" state
  [[ -n "$p" ]] || return 1
  if [[ -d /proc/$p ]]; then
    read -r _ _ state _ < "/proc/$p/stat" 2>/dev/null || return 1
    [[ "$state" != Z ]]
  else
    kill -0 "$p" 2>/dev/null
  fi
}

stop_all() {
  local role i
  for ((i=${#order[@]}-1; i>=0; i--)); do
    role="${order[$i]}"
    alive "$role" || continue
    kill -TERM "${pid[$role]}" 2>/dev/null
    # Roles drain and exit on SIGTERM within a few seconds (Docencio at most
    # about 9 s: 6 s for questions waiting on Tareo, then 3 s to deliver
    # what it owes Profesor); past 12 s, force.
    for _ in $(seq 1 120); do alive "$role" || break; sleep 0.1; done
    if alive "$role"; then
      echo "aula.sh: $role no terminó a tiempo; se fuerza (SIGKILL)" >&2
      kill -KILL "${pid[$role]}" 2>/dev/null
    fi
    wait "${pid[$role]}" 2>/dev/null
  done
  sleep 0.2 # let the log prefixers print their last lines
}

died_at_start() {
  local role="$1"
  wait "${pid[$role]}" 2>/dev/null; local code=$?
  sleep 0.2
  echo "aula.sh: $role murió al iniciar (código $code). Últimas líneas de $log_dir/$role.log:" >&2
  tail -n 15 "$log_dir/$role.log" | sed 's/^/    /' >&2
  stop_all
  exit 1
}

# Waits until CHECK succeeds, as long as ROLE is alive (60 s at most).
wait_ready() {
  local role="$1" what="$2"; shift 2
  for _ in $(seq 1 600); do
    alive "$role" || died_at_start "$role"
    "$@" && return 0
    sleep 0.1
  done
  echo "aula.sh: $role no quedó listo en 60 s ($what)" >&2
  stop_all
  exit 1
}

http_ready() {
  if command -v curl >/dev/null; then
    curl -fsS -o /dev/null --max-time 1 --noproxy '*' "http://$AULA_PROFESOR_BIND/" 2>/dev/null
  else
    accepts "$AULA_PROFESOR_BIND"
  fi
}

stopping=0
on_signal() { stopping=1; }
trap on_signal INT TERM

start profesor "$bin/profesor"
wait_ready profesor "HTTP en $AULA_PROFESOR_BIND" http_ready
# Ready when the port accepts: both validate their flags before binding, so
# this holds whatever RUST_LOG hides.
start tareo "$bin/tareo"
wait_ready tareo "puerto $AULA_TAREO_BIND" accepts "$AULA_TAREO_BIND"
start docencio "$bin/docencio"
wait_ready docencio "puerto $AULA_DOCENCIO_BIND" accepts "$AULA_DOCENCIO_BIND"
start estudiante "$bin/estudiante" --students "$students" "${student_args[@]}"
# Its first line comes after its signal handlers are in place: from then on
# Ctrl-C gets the students' summary (at most 5 s, for a RUST_LOG that hides it).
student_started() { grep -q "Inicializando" "$log_dir/estudiante.log" 2>/dev/null; }
for _ in $(seq 1 100); do student_started && break; alive estudiante || break; sleep 0.05; done

echo "aula.sh: clase en marcha ($students estudiante(s)); registros en $log_dir/; panel en vivo en http://$AULA_PROFESOR_BIND/panel. Ctrl-C para terminar." >&2
# Milliseconds since the epoch (EPOCHREALTIME is bash 5; its separator follows the locale).
now_ms() { local t="${EPOCHREALTIME/[.,]/}"; echo $(( t / 1000 )); }
started=$(now_ms)
declare -A reported=()
while (( ! stopping )); do
  if ! alive estudiante; then
    wait "${pid[estudiante]}" 2>/dev/null; code=$?
    stop_all
    exit "$code"
  fi
  # An instructor may kill a role on purpose to show what happens: say so
  # once, and keep the class running.
  for role in profesor tareo docencio; do
    if [[ -z "${reported[$role]:-}" ]] && ! alive "$role"; then
      echo "aula.sh: $role terminó (PID ${pid[$role]}); los demás siguen" >&2
      reported[$role]=1
    fi
  done
  if [[ -n "$duration" ]] && (( $(now_ms) - started >= duration * 1000 )); then
    break
  fi
  sleep 0.2
done
echo "aula.sh: deteniendo la clase..." >&2
stop_all
exit 0
