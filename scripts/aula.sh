#!/usr/bin/env bash
# aula.sh: runs the whole class in one terminal.
#
# Starts the roles in the notebook's order, each only once the one before
# accepts connections: profesor (waits until it answers HTTP), tareo and
# docencio (wait until their ports accept), then the students. Every line of
# every role is shown prefixed by the role's name (coloured on a terminal)
# and written to logs/<role>.log. Ctrl-C, SIGTERM, SIGHUP or --duration stop
# everything this script started, by the PIDs it recorded, one role after
# the other (students first, Profesor last), and it exits 0.
# A role that dies at start-up (the students included) is named, with its
# last log lines, and the script exits 1. At the end it prints Profesor's
# final count next to the one the students' answers call for.
#
# `aula.sh reiniciar ROLE`, from another terminal, asks the running class
# to start ROLE again (after a kill -9, say). The class and that command
# talk through files in a control folder under the log folder
# (logs/.clase/): `pid` names the running aula.sh; a request is a file
# `pedido.ID` holding the role, answered by `respuesta.ID` (exit status on
# the first line, then the message). The class's main loop already wakes
# every 0.2 s to watch its roles, so it looks for requests there: no signal
# is needed, none can be lost, and a request never interrupts a start or a
# stop half-way.
set -uo pipefail

usage() {
  cat <<'TXT'
Uso: scripts/aula.sh [--students N] [--duration S] [--nueva] [-- OPCIONES DE ESTUDIANTE...]
     scripts/aula.sh reiniciar profesor|tareo|docencio

  --students N   estudiantes simulados (por defecto 3)
  --duration S   detener la clase después de S segundos (por defecto: hasta Ctrl-C)
  --nueva        empezar la cuenta desde 0: borra antes de empezar las bases de datos de la
                 carpeta de datos (la cuenta de Profesor, aula.sqlite3, y lo que cada Docencio
                 le debe, docencio-PUERTO.sqlite3) y dice qué borró. Se niega si una clase
                 las está usando. Sin --nueva, la cuenta sigue de una clase a la siguiente.
  -- ...         todo lo demás va a `estudiante` (p. ej. -- --no-pause --questions 10 --seed 1)

  reiniciar ROL  desde otra terminal, con una clase en marcha: la clase vuelve a iniciar ROL
                 (p. ej. tras matarlo con kill -9), con las mismas opciones; su salida sigue
                 en la terminal de la clase y en logs/ROL.log, y se detiene con la clase.

Al terminar, la clase muestra la cuenta final de Profesor (GET /preguntas) junto a la
esperada: la cuenta de antes de la clase más las respuestas reales de Tareo o Profesor
que recibieron los estudiantes.

Direcciones (variables de entorno, como las de cada binario):
  AULA_PROFESOR_BIND (127.0.0.1:4444)  AULA_TAREO_BIND (127.0.0.1:4445)
  AULA_DOCENCIO_BIND (127.0.0.1:4446)  AULA_DATA_DIR (./aula-datos)
Otras: AULA_LOG_DIR (./logs; `reiniciar` necesita la misma), AULA_BIN_DIR (usar binarios
ya compilados), RUST_LOG.
La primera vez compila en modo release: unos 3-4 minutos (se ve el progreso de cargo).
TXT
}

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/comun.sh
source "$root/scripts/comun.sh"

log_dir="${AULA_LOG_DIR:-$root/logs}"
ctl="$log_dir/.clase"
roles_restartable=(profesor tareo docencio)

# How a user runs this script again, for messages: relative from the
# repository's root, else absolute; with AULA_LOG_DIR when it was given,
# since `reiniciar` finds the class by its log folder.
self_command() {
  local words=()
  [[ -n "${AULA_LOG_DIR:-}" ]] && words+=("AULA_LOG_DIR=$(printf '%q' "$log_dir")")
  if [[ "$PWD" == "$root" ]]; then words+=(scripts/aula.sh); else words+=("$(printf '%q' "$root/scripts/aula.sh")"); fi
  echo "${words[*]}"
}

# The PID of the aula.sh running a class with this log folder, if any.
class_owner() {
  local owner cmdline
  read -r owner 2>/dev/null <"$ctl/pid" || return 1
  [[ "$owner" =~ ^[0-9]+$ ]] && kill -0 "$owner" 2>/dev/null || return 1
  # A PID reused by another program since is no class.
  if [[ -r "/proc/$owner/cmdline" ]]; then
    cmdline=$(tr '\0' ' ' <"/proc/$owner/cmdline" 2>/dev/null)
    [[ "$cmdline" == *aula.sh* ]] || return 1
  fi
  echo "$owner"
}

# `aula.sh reiniciar ROLE`: hands the request to the running class and
# prints its answer.
request_restart() {
  local role="${1:-}" owner id reply code
  case "$role" in
    profesor|tareo|docencio) ;;
    estudiante)
      echo "aula.sh: estudiante no se reinicia: cuando los estudiantes terminan, termina la clase (empieza otra con scripts/aula.sh)" >&2
      exit 2 ;;
    "") echo "aula.sh: reiniciar necesita un rol: ${roles_restartable[*]}" >&2; exit 2 ;;
    *) echo "aula.sh: rol desconocido: $role (se puede reiniciar: ${roles_restartable[*]})" >&2; exit 2 ;;
  esac
  if ! owner=$(class_owner); then
    echo "aula.sh: no hay ninguna clase en marcha con registros en $log_dir; inicia una con scripts/aula.sh (si le diste AULA_LOG_DIR, dala aquí también)" >&2
    exit 1
  fi
  id="$$"
  reply="$ctl/respuesta.$id"
  rm -f "$reply"
  # Written whole, then renamed: the class never reads half a request.
  if ! { printf '%s\n' "$role" >"$ctl/pedido.$id.tmp" && mv -f "$ctl/pedido.$id.tmp" "$ctl/pedido.$id"; } 2>/dev/null; then
    rm -f "$ctl/pedido.$id.tmp"
    echo "aula.sh: no se pudo dejar el pedido en $ctl (¿la clase acaba de terminar?)" >&2
    exit 1
  fi
  # A restart waits up to 30 s for the role to be ready; the class looks
  # for requests every 0.2 s when it is not starting or stopping a role.
  for _ in $(seq 1 450); do
    if [[ -f "$reply" ]]; then
      { read -r code; cat; } <"$reply" >&2
      rm -f "$reply"
      exit "${code:-1}"
    fi
    if ! kill -0 "$owner" 2>/dev/null; then
      rm -f "$ctl/pedido.$id"
      echo "aula.sh: la clase (PID $owner) terminó sin atender el pedido" >&2
      exit 1
    fi
    sleep 0.1
  done
  rm -f "$ctl/pedido.$id"
  echo "aula.sh: la clase (PID $owner) no atendió el pedido en 45 s" >&2
  exit 1
}

if [[ "${1:-}" == reiniciar ]]; then
  request_restart "${2:-}"
fi

students=3
duration=""
fresh=0
student_args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --students) students="${2:?--students necesita un número}"; shift 2 ;;
    --duration) duration="${2:?--duration necesita segundos}"; shift 2 ;;
    --nueva) fresh=1; shift ;;
    -h|--help) usage; exit 0 ;;
    --) shift; student_args=("$@"); break ;;
    *) echo "aula.sh: opción desconocida: $1" >&2; usage >&2; exit 2 ;;
  esac
done
[[ "$students" =~ ^[0-9]+$ ]] || { echo "aula.sh: --students debe ser un número: $students" >&2; exit 2; }
[[ -z "$duration" || "$duration" =~ ^[0-9]+$ ]] || { echo "aula.sh: --duration debe ser un número de segundos: $duration" >&2; exit 2; }

find_binaries aula.sh "$root"

export AULA_PROFESOR_BIND="${AULA_PROFESOR_BIND:-127.0.0.1:4444}"
export AULA_TAREO_BIND="${AULA_TAREO_BIND:-127.0.0.1:4445}"
export AULA_DOCENCIO_BIND="${AULA_DOCENCIO_BIND:-127.0.0.1:4446}"
export AULA_PROFESOR_URL="${AULA_PROFESOR_URL:-http://$AULA_PROFESOR_BIND}"
export AULA_TAREO_ADDR="${AULA_TAREO_ADDR:-$AULA_TAREO_BIND}"
export AULA_DOCENCIO_ADDR="${AULA_DOCENCIO_ADDR:-$AULA_DOCENCIO_BIND}"
export AULA_DATA_DIR="${AULA_DATA_DIR:-$root/aula-datos}"
mkdir -p "$log_dir" || exit 1
log_dir="$(cd "$log_dir" && pwd)"
ctl="$log_dir/.clase"

# Role name -> colour (only on a terminal) and recorded PID.
declare -A colour=([profesor]=35 [tareo]=33 [docencio]=36 [estudiante]=32)
declare -A pid=()

bind_of() {
  case "$1" in
    profesor) echo "$AULA_PROFESOR_BIND" ;;
    tareo) echo "$AULA_TAREO_BIND" ;;
    docencio) echo "$AULA_DOCENCIO_BIND" ;;
  esac
}

for role in profesor tareo docencio; do
  addr="$(bind_of "$role")"
  if accepts "$addr"; then
    var="AULA_${role^^}_BIND"
    echo "aula.sh: el puerto $(port_of "$addr") de $role ($addr) ya está en uso $(port_holder_text "$addr")" >&2
    echo "aula.sh: ¿hay otra clase corriendo? Deténla, o elige otra dirección: $var=$(host_of "$addr"):OTRO_PUERTO scripts/aula.sh" >&2
    exit 1
  fi
done

if owner=$(class_owner); then
  echo "aula.sh: otra clase (PID $owner) ya escribe sus registros en $log_dir; deténla, o usa otra carpeta: AULA_LOG_DIR=OTRA scripts/aula.sh" >&2
  exit 1
fi

# --nueva: the databases in the data folder go, unless a process has one
# of them open (a class on other ports sharing the folder; one on these
# ports was refused above, before anything was removed).
start_fresh() {
  local dir="$AULA_DATA_DIR" real files=() holders f names=()
  if [[ ! -d "$dir" ]]; then
    echo "aula.sh: --nueva: $dir aún no existe; la cuenta empieza en 0" >&2
    return 0
  fi
  real="$(cd "$dir" && pwd -P)"
  holders=$(find /proc/[0-9]*/fd -lname "$real/*.sqlite3*" -printf '%h\n' 2>/dev/null | sed 's|^/proc/\([0-9]*\)/fd$|\1|' | sort -un)
  if [[ -n "$holders" ]]; then
    echo "aula.sh: --nueva: no se borra nada: la cuenta de $dir está abierta por:" >&2
    for f in $holders; do echo "    $(describe_pid "$f")" >&2; done
    echo "aula.sh: ¿hay otra clase usando esa carpeta? Deténla primero, o usa otra: AULA_DATA_DIR=OTRA" >&2
    exit 1
  fi
  shopt -s nullglob
  files=("$dir"/aula.sqlite3* "$dir"/docencio-*.sqlite3*)
  shopt -u nullglob
  if (( ${#files[@]} == 0 )); then
    echo "aula.sh: --nueva: no había cuenta guardada en $dir; la cuenta empieza en 0" >&2
    return 0
  fi
  rm -f -- "${files[@]}" || { echo "aula.sh: --nueva: no se pudo borrar la cuenta de $dir" >&2; exit 1; }
  for f in "${files[@]}"; do names+=("${f##*/}"); done
  echo "aula.sh: --nueva: borrado de $dir: ${names[*]}; la cuenta empieza en 0" >&2
}
(( fresh )) && start_fresh

mkdir -p "$ctl" || exit 1
rm -f "$ctl"/pedido.* "$ctl"/respuesta.*
echo "$$" >"$ctl/pid"
# Whatever way this script ends, no request is taken for this class any more.
trap 'rm -f "$ctl/pid" "$ctl"/pedido.*; rmdir "$ctl" 2>/dev/null' EXIT

# Sets `cmd` to ROLE's command line (the same on a restart).
command_of() {
  case "$1" in
    profesor) cmd=("$bin/profesor") ;;
    tareo) cmd=("$bin/tareo") ;;
    docencio) cmd=("$bin/docencio") ;;
    estudiante) cmd=("$bin/estudiante" --students "$students" "${student_args[@]}") ;;
  esac
}

# Starts ROLE; its log is emptied first unless $2 is "again" (a restart
# appends).
start() {
  local role="$1" tag cmd
  command_of "$role"
  if [[ -t 1 ]]; then
    tag=$(printf '\033[1;%sm%-10s|\033[0m ' "${colour[$role]}" "$role")
  else
    tag=$(printf '%-10s| ' "$role")
  fi
  [[ "${2:-}" == again ]] || : >"$log_dir/$role.log"
  # Each role is started through a function of its own name, so that bash's
  # own notice when one is killed reads "PID Killed tareo".
  case "$role" in
    profesor) profesor & ;;
    tareo) tareo & ;;
    docencio) docencio & ;;
    estudiante) estudiante & ;;
  esac
  pid[$role]=$!
}

# Replaces the background subshell it runs in with ROLE (`cmd`, `tag` from
# `start`), so the PID that `start` records is the role's. The role runs in
# a session of its own (setsid execs it in place: a background child is no
# group leader), so a terminal's Ctrl-C reaches this script only, which
# stops the roles one by one: the students first, Profesor last, after its
# final count is read. The prefixer stays in this script's group and
# ignores Ctrl-C and SIGTERM: it must outlive the role to show (and log)
# its last lines, such as the students' summary. It ends when the role's
# output closes.
run_role() {
  exec "${own_session[@]}" "${cmd[@]}" </dev/null > >(trap '' INT TERM; tee -a "$log_dir/$1.log" | sed -u "s/^/$tag/") 2>&1
}
profesor() { run_role profesor; }
tareo() { run_role tareo; }
docencio() { run_role docencio; }
estudiante() { run_role estudiante; }
own_session=()
command -v setsid >/dev/null && own_session=(setsid)

# True while ROLE's process runs. An exited child stays a zombie until bash
# reaps it, and `kill -0` succeeds on a zombie: read its state instead.
alive() {
  local p="${pid[$1]:-}" state
  [[ -n "$p" ]] || return 1
  if [[ -d /proc/$p ]]; then
    read -r _ _ state _ <"/proc/$p/stat" 2>/dev/null || return 1
    [[ "$state" != Z ]]
  else
    kill -0 "$p" 2>/dev/null
  fi
}

# Stops the given roles, in that order.
stop_roles() {
  local role
  for role in "$@"; do
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
}

stop_all() {
  stop_roles estudiante docencio tareo profesor
  sleep 0.2 # let the log prefixers print their last lines
}

# ROLE (exit status CODE) died while starting: its last lines, everything
# stopped, exit 1.
died_at_start() {
  local role="$1" code="$2"
  sleep 0.2
  echo "aula.sh: $role murió al iniciar (código $code). Últimas líneas de $log_dir/$role.log:" >&2
  tail -n 15 "$log_dir/$role.log" | sed 's/^/    /' >&2
  stop_all
  exit 1
}

# ROLE's process exited: its exit status (reaped now if bash had not yet).
exit_code() {
  wait "${pid[$1]}" 2>/dev/null
}

http_ready() {
  if command -v curl >/dev/null; then
    curl -fsS -o /dev/null --max-time 1 --noproxy '*' "http://$AULA_PROFESOR_BIND/" 2>/dev/null
  else
    accepts "$AULA_PROFESOR_BIND"
  fi
}

# True once ROLE serves: Profesor answers HTTP; Tareo and Docencio accept on
# their port (both validate their flags before binding, so this holds
# whatever RUST_LOG hides).
ready() {
  case "$1" in
    profesor) http_ready ;;
    *) accepts "$(bind_of "$1")" ;;
  esac
}

stopping=0
on_signal() { stopping=1; }
# A closed terminal (SIGHUP) stops the class too: the roles, in sessions of
# their own, would not hear of it.
trap on_signal INT TERM HUP

# Waits until ROLE is ready, as long as it is alive (60 s at most).
wait_ready() {
  local role="$1"
  for _ in $(seq 1 600); do
    if (( stopping )); then
      echo "aula.sh: interrumpida al iniciar; deteniendo lo iniciado" >&2
      stop_all
      exit 130
    fi
    alive "$role" || { exit_code "$role"; died_at_start "$role" $?; }
    ready "$role" && return 0
    sleep 0.1
  done
  echo "aula.sh: $role no quedó listo en 60 s ($(bind_of "$role"))" >&2
  stop_all
  exit 1
}

# Profesor's count: the `total` field of GET /preguntas; fails when
# Profesor does not answer.
profesor_total() {
  local body
  if command -v curl >/dev/null; then
    body=$(curl -fsS --max-time 3 --noproxy '*' "http://$AULA_PROFESOR_BIND/preguntas" 2>/dev/null) || return 1
  else
    body=$(
      exec 3<>"/dev/tcp/$(host_of "$AULA_PROFESOR_BIND")/$(port_of "$AULA_PROFESOR_BIND")" || exit 1
      printf 'GET /preguntas HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "$AULA_PROFESOR_BIND" >&3
      timeout 3 cat <&3
    ) 2>/dev/null || return 1
  fi
  [[ "$body" =~ \"total\":\ *([0-9]+) ]] || return 1
  echo "${BASH_REMATCH[1]}"
}

start profesor
wait_ready profesor
count_before=$(profesor_total) || count_before=""
start tareo
wait_ready tareo
start docencio
wait_ready docencio
start estudiante
# Its first line comes after its signal handlers are in place: from then on
# Ctrl-C gets the students' summary (at most 5 s, for a RUST_LOG that hides it).
student_started() { grep -q "Inicializando" "$log_dir/estudiante.log" 2>/dev/null; }
for _ in $(seq 1 100); do student_started && break; alive estudiante || break; sleep 0.05; done
# `estudiante` exits 0, or 1 when an answer was wrong, after its summary; any
# other status (2: a flag it does not know) means it never ran the class.
student_code=""
if ! alive estudiante; then
  exit_code estudiante; student_code=$?
  (( student_code == 0 || student_code == 1 )) || died_at_start estudiante "$student_code"
fi

# The students' real answers from Tareo or Profesor: the "de Tareo o
# Profesor: N" line of the summary they print. The summary is read from
# their log rather than asked for as JSON (--summary-format json), so the
# class shows the human summary as it always has; a JSON summary, when the
# user asks for one, is read too (its `relayed` field).
students_relayed() {
  local file="$log_dir/estudiante.log" line
  line=$(grep -a -o -e 'de Tareo o Profesor: [0-9]*' -e '"relayed": *[0-9]*' "$file" 2>/dev/null | tail -n 1)
  [[ "$line" =~ ([0-9]+)$ ]] || return 1
  echo "${BASH_REMATCH[1]}"
}

# Answers that Docencio owed Profesor from an earlier class and delivered
# when it started (its first start's "recuperados" line; a restart within
# this class recovers answers the students already count).
debt_recovered() {
  local line
  line=$(sed '/^--- aula.sh: /q' "$log_dir/docencio.log" 2>/dev/null | grep -a -o 'recuperados de .*: [0-9]* respuestas pendientes' | head -n 1)
  [[ "$line" =~ :\ ([0-9]+)\ respuestas ]] && echo "${BASH_REMATCH[1]}" || echo 0
}

# Profesor's final count next to the expected one. Called once the students,
# Docencio (which delivers what it owes on SIGTERM) and Tareo have stopped,
# before Profesor stops.
report_count() {
  local relayed="" total debt expected parts
  # The summary is printed as the students exit; their log prefixer may
  # still be writing it.
  for _ in $(seq 1 30); do relayed=$(students_relayed) && break; sleep 0.1; done
  if ! total=$(profesor_total); then
    echo "aula.sh: Profesor no responde: no se puede leer su cuenta final (queda guardada en $AULA_DATA_DIR)" >&2
    return
  fi
  echo "aula.sh: cuenta final de Profesor: $total preguntas respondidas" >&2
  if [[ -z "$count_before" || -z "$relayed" ]]; then
    [[ -z "$relayed" ]] && echo "aula.sh: los estudiantes no imprimieron su resumen: no hay cuenta esperada con qué compararla" >&2
    [[ -z "$count_before" ]] && echo "aula.sh: no se leyó la cuenta de Profesor al empezar: no hay cuenta esperada con qué compararla" >&2
    return
  fi
  debt=$(debt_recovered)
  expected=$((count_before + relayed + debt))
  parts="$count_before antes de la clase + $relayed respuestas reales de Tareo o Profesor a los estudiantes"
  (( debt > 0 )) && parts+=" + $debt que Docencio debía de una clase anterior"
  if (( total == expected )); then
    echo "aula.sh: cuenta esperada:          $expected ($parts): coinciden" >&2
  elif (( total < expected )); then
    echo "aula.sh: cuenta esperada:          $expected ($parts): faltan $((expected - total))" >&2
    echo "aula.sh:   (lo que Docencio debía y no pudo entregar, o lo que entregó tras su último guardado si se lo mató con -9; un Docencio iniciado de nuevo con la misma carpeta de datos entrega lo que debe)" >&2
  else
    echo "aula.sh: cuenta esperada:          $expected ($parts): sobran $((total - expected))" >&2
    echo "aula.sh:   (¿otro cliente preguntó a esta clase, o avisó a Profesor, mientras corría?)" >&2
  fi
}

# Stops the class: everyone but Profesor, the count, then Profesor; warns of
# a process not started here that still holds one of the class's ports
# (a role started by hand).
end_class() {
  local role addr
  stop_roles estudiante docencio tareo
  report_count
  stop_roles profesor
  sleep 0.2 # let the log prefixers print their last lines
  for role in profesor tareo docencio; do
    addr="$(bind_of "$role")"
    if accepts "$addr"; then
      echo "aula.sh: el puerto de $role ($addr) sigue ocupado $(port_holder_text "$addr"); no lo inició esta clase" >&2
    fi
  done
}

# Starts ROLE again for `aula.sh reiniciar`; sets `said` to what happened,
# returns the exit status for the requester. Runs in this shell, never in a
# subshell: the role must be this script's child, with its PID recorded, and
# its output must go where the others' goes.
restart_role() {
  local role="$1" addr code
  said=""
  case "$role" in
    profesor|tareo|docencio) ;;
    *) said="aula.sh: rol desconocido: $role (se puede reiniciar: ${roles_restartable[*]})"; return 2 ;;
  esac
  if alive "$role"; then
    said="aula.sh: $role sigue en marcha (PID ${pid[$role]}): no hace falta reiniciarlo"
    return 1
  fi
  addr="$(bind_of "$role")"
  if accepts "$addr"; then
    said="aula.sh: no se reinicia $role: su puerto ($addr) está ocupado $(port_holder_text "$addr")"
    return 1
  fi
  exit_code "$role"
  echo "--- aula.sh: $role se inicia de nuevo ($(date '+%H:%M:%S')) ---" >>"$log_dir/$role.log"
  start "$role" again
  for _ in $(seq 1 300); do
    if (( stopping )); then
      said="aula.sh: la clase se está deteniendo"
      return 1
    fi
    if ! alive "$role"; then
      exit_code "$role"; code=$?
      sleep 0.2
      said="aula.sh: $role murió al reiniciarse (código $code). Últimas líneas de $log_dir/$role.log:"$'\n'
      said+=$(tail -n 15 "$log_dir/$role.log" | sed 's/^/    /')
      return 1
    fi
    if ready "$role"; then
      reported[$role]=""
      said="aula.sh: $role reiniciado (PID ${pid[$role]}) en $addr; su salida sigue en la terminal de la clase y en $log_dir/$role.log"
      return 0
    fi
    sleep 0.1
  done
  said="aula.sh: $role reiniciado (PID ${pid[$role]}), pero no quedó listo en 30 s ($addr); mira $log_dir/$role.log"
  return 1
}

# Answers the requests left by `aula.sh reiniciar`, telling the class's
# terminal too.
serve_requests() {
  local request id role code
  for request in "$ctl"/pedido.*; do
    [[ -f "$request" && "$request" != *.tmp ]] || continue
    id="${request##*.}"
    role=""
    read -r role <"$request"
    rm -f "$request"
    restart_role "$role"; code=$?
    echo "$said" >&2
    printf '%s\n%s\n' "$code" "$said" >"$ctl/respuesta.$id.tmp" && mv -f "$ctl/respuesta.$id.tmp" "$ctl/respuesta.$id"
  done
}

# Milliseconds since the epoch (EPOCHREALTIME is bash 5; its separator follows the locale).
now_ms() { local t="${EPOCHREALTIME/[.,]/}"; echo $(( t / 1000 )); }
declare -A reported=()

if alive estudiante; then
  echo "aula.sh: clase en marcha ($students estudiante(s)); registros en $log_dir/; panel en vivo en http://$AULA_PROFESOR_BIND/panel. Ctrl-C para terminar." >&2
  started=$(now_ms)
  while (( ! stopping )); do
    alive estudiante || break
    # An instructor may kill a role on purpose to show what happens: say so
    # once, with how to bring it back, and keep the class running.
    for role in profesor tareo docencio; do
      if [[ -z "${reported[$role]:-}" ]] && ! alive "$role"; then
        echo "aula.sh: $role terminó (PID ${pid[$role]}); los demás siguen." >&2
        echo "aula.sh: para iniciarlo de nuevo en esta clase (mismas opciones; su salida, aquí y en $log_dir/$role.log), desde otra terminal: $(self_command) reiniciar $role" >&2
        reported[$role]=1
      fi
    done
    serve_requests
    if [[ -n "$duration" ]] && (( $(now_ms) - started >= duration * 1000 )); then
      break
    fi
    sleep 0.2
  done
fi

code=0
if [[ -n "$student_code" ]]; then
  code="$student_code"
elif ! alive estudiante; then
  # The students finished by themselves: their status is the class's.
  exit_code estudiante; code=$?
else
  echo "aula.sh: deteniendo la clase..." >&2
fi
end_class
exit "$code"
