#!/usr/bin/env bash
# terminales.sh: the course's four terminals, as one tmux window.
#
# Opens a tmux session with four panes titled profesor, tareo, docencio and
# estudiante, and starts one role in each in the notebook's order, each only
# once the one before accepts connections. Then attaches to it (unless
# --no-attach). Ctrl-C in a pane stops that role cleanly (the student prints
# its summary); the pane stays open to read its last lines. `tmux
# kill-session -t aula` closes everything.
set -uo pipefail

usage() {
  cat <<'TXT'
Uso: scripts/terminales.sh [--students N] [--no-attach] [-- OPCIONES DE ESTUDIANTE...]

  --students N   estudiantes simulados en el panel de estudiante (por defecto 1, como el cuaderno)
  --no-attach    crear la sesión sin entrar en ella (tmux attach -t aula para verla)
  -- ...         todo lo demás va a `estudiante` (p. ej. -- --no-pause --questions 1000)

Variables: AULA_TMUX_SESSION (aula), AULA_TMUX_SOCKET (servidor tmux aparte, tmux -L),
las direcciones de aula.sh (AULA_PROFESOR_BIND, AULA_TAREO_BIND, AULA_DOCENCIO_BIND),
AULA_DATA_DIR, AULA_BIN_DIR (binarios ya compilados), RUST_LOG, AULA_LOG_FORMAT.
TXT
}

students=1
attach=1
student_args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --students) students="${2:?--students necesita un número}"; shift 2 ;;
    --no-attach) attach=0; shift ;;
    -h|--help) usage; exit 0 ;;
    --) shift; student_args=("$@"); break ;;
    *) echo "terminales.sh: opción desconocida: $1" >&2; usage >&2; exit 2 ;;
  esac
done
[[ "$students" =~ ^[0-9]+$ ]] || { echo "terminales.sh: --students debe ser un número: $students" >&2; exit 2; }

if ! command -v tmux >/dev/null; then
  cat >&2 <<'TXT'
terminales.sh: falta tmux. Instálalo:
  Debian/Ubuntu: sudo apt-get install tmux
  Fedora:        sudo dnf install tmux
  macOS:         brew install tmux
O abre cuatro terminales a mano (README, «Four terminals»), o usa scripts/aula.sh.
TXT
  exit 1
fi

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
session="${AULA_TMUX_SESSION:-aula}"
tmux_cmd=(tmux)
[[ -n "${AULA_TMUX_SOCKET:-}" ]] && tmux_cmd=(tmux -L "$AULA_TMUX_SOCKET")
t() { "${tmux_cmd[@]}" "$@"; }

if t has-session -t "=$session" 2>/dev/null; then
  echo "terminales.sh: ya existe la sesión tmux '$session': entra con 'tmux attach -t $session' o ciérrala con 'tmux kill-session -t $session'" >&2
  exit 1
fi

# shellcheck source=scripts/comun.sh
source "$root/scripts/comun.sh"
find_binaries terminales.sh "$root"

profesor_bind="${AULA_PROFESOR_BIND:-127.0.0.1:4444}"
tareo_bind="${AULA_TAREO_BIND:-127.0.0.1:4445}"
docencio_bind="${AULA_DOCENCIO_BIND:-127.0.0.1:4446}"
profesor_url="${AULA_PROFESOR_URL:-http://$profesor_bind}"
data_dir="${AULA_DATA_DIR:-$root/aula-datos}"

for addr in "$profesor_bind" "$tareo_bind" "$docencio_bind"; do
  if accepts "$addr"; then
    echo "terminales.sh: $addr ya está en uso $(port_holder_text "$addr"): ¿hay otra clase corriendo?" >&2
    exit 1
  fi
done

# Each pane runs one command line; the environment is spelled out in it,
# because a tmux server that is already running does not see ours.
command_line() {
  local words=(env)
  [[ -n "${RUST_LOG:-}" ]] && words+=("RUST_LOG=$RUST_LOG")
  [[ -n "${AULA_LOG_FORMAT:-}" ]] && words+=("AULA_LOG_FORMAT=$AULA_LOG_FORMAT")
  words+=("$@")
  printf '%q ' "${words[@]}"
}

profesor_cmd=$(command_line "$bin/profesor" --bind "$profesor_bind" --data-dir "$data_dir")
tareo_cmd=$(command_line "$bin/tareo" --bind "$tareo_bind" --profesor-url "$profesor_url")
docencio_cmd=$(command_line "$bin/docencio" --bind "$docencio_bind" --tareo-addr "$tareo_bind" \
  --profesor-url "$profesor_url" --data-dir "$data_dir")
estudiante_cmd=$(command_line "$bin/estudiante" --docencio-addr "$docencio_bind" \
  --students "$students" "${student_args[@]}")

# Waits up to 30 s until ADDR accepts, while PANE's command still runs.
wait_accepts() {
  local role="$1" pane="$2" addr="$3"
  for _ in $(seq 1 300); do
    accepts "$addr" && return 0
    if [[ "$(t display-message -p -t "$pane" '#{pane_dead}')" == 1 ]]; then
      echo "terminales.sh: $role terminó al iniciar; mira su panel: tmux attach -t $session" >&2
      exit 1
    fi
    sleep 0.1
  done
  echo "terminales.sh: $role no escucha en $addr tras 30 s; mira su panel: tmux attach -t $session" >&2
  exit 1
}

# The first pane: Profesor. Panes stay after their role exits, to read it.
t new-session -d -s "$session" -n clase -x 220 -y 56 "$profesor_cmd" || exit 1
t set-option -t "$session" remain-on-exit on >/dev/null
t set-option -t "$session" pane-border-status top >/dev/null
t set-option -t "$session" pane-border-format ' #{pane_title} ' >/dev/null
# Titles are ours; a program's escape sequences do not rename the panes.
t set-option -t "$session" allow-rename off >/dev/null
t set-window-option -t "$session:clase" allow-rename off >/dev/null
profesor_pane=$(t display-message -p -t "$session:clase.0" '#{pane_id}')
t select-pane -t "$profesor_pane" -T profesor
wait_accepts profesor "$profesor_pane" "$profesor_bind"

tareo_pane=$(t split-window -h -P -F '#{pane_id}' -t "$profesor_pane" "$tareo_cmd")
t select-pane -t "$tareo_pane" -T tareo
wait_accepts tareo "$tareo_pane" "$tareo_bind"

docencio_pane=$(t split-window -v -P -F '#{pane_id}' -t "$profesor_pane" "$docencio_cmd")
t select-pane -t "$docencio_pane" -T docencio
wait_accepts docencio "$docencio_pane" "$docencio_bind"

estudiante_pane=$(t split-window -v -P -F '#{pane_id}' -t "$tareo_pane" "$estudiante_cmd")
t select-pane -t "$estudiante_pane" -T estudiante

echo "terminales.sh: clase en marcha en la sesión tmux '$session' (Ctrl-C en un panel detiene su rol; tmux kill-session -t $session cierra todo); panel en vivo en http://$profesor_bind/panel" >&2
if (( attach )); then
  if [[ -n "${TMUX:-}" ]]; then
    exec "${tmux_cmd[@]}" switch-client -t "$session"
  else
    exec "${tmux_cmd[@]}" attach -t "$session"
  fi
fi
