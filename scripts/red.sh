#!/usr/bin/env bash
# red.sh: the class across several machines, on this one, for a person to
# watch. Every role runs on a host of its own (a Linux network namespace
# with its own address and host name, on one bridge): two Profesor on one
# PostgreSQL, two Tareo, two Docencio and the students on a seventh host.
# Every line of every role is shown prefixed by its host's name and kept
# in logs/red/<host>.log. Prints the addresses, the panel's URL and the
# commands that put a fault on the class; Ctrl-C (or --duration) stops the
# roles (students first, Profesor last) and removes every namespace, the
# bridge and the database it made.
#
# Needs root (namespaces), iproute2 and util-linux; nftables for --perdida.
# The database: AULA_DATABASE_URL if set, else a database `aula_red` made
# on the PostgreSQL of this machine through its Unix socket (which every
# namespace sees, as it sees the files), else (no PostgreSQL) both
# Profesors share one SQLite file, which the script says.
set -uo pipefail

usage() {
  cat <<'TXT'
Uso: sudo scripts/red.sh [--students N] [--duration S] [--perdida P] [-- OPCIONES DE ESTUDIANTE...]

  --students N   estudiantes simulados, repartidos entre los dos Docencio (por defecto 6)
  --duration S   detener la clase después de S segundos (por defecto: hasta Ctrl-C)
  --perdida P    descartar el P% de los paquetes en cada máquina (nftables), p. ej. 1
  -- ...         todo lo demás va a `estudiante` (p. ej. -- --no-pause)

Máquinas (espacios de red en 10.250.0.0/24, el puente aula-red es 10.250.0.1):
  profesor-1 10.250.0.11:4444   profesor-2 10.250.0.12:4444
  tareo-1    10.250.0.21:4445   tareo-2    10.250.0.22:4445
  docencio-1 10.250.0.31:4446   docencio-2 10.250.0.32:4446
  estudiantes 10.250.0.41
Base de datos: AULA_DATABASE_URL, o la base aula_red en el PostgreSQL de esta máquina.
Registros: logs/red/MAQUINA.log (AULA_LOG_DIR cambia logs/). AULA_BIN_DIR: binarios ya compilados.
TXT
}

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/comun.sh
source "$root/scripts/comun.sh"

students=6 duration="" loss=""
student_args=()
while (( $# )); do
  case "$1" in
    --students) students="${2:?--students N}"; shift 2 ;;
    --duration) duration="${2:?--duration S}"; shift 2 ;;
    --perdida) loss="${2:?--perdida P}"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    --) shift; student_args=("$@"); break ;;
    *) echo "red.sh: opción desconocida: $1" >&2; usage >&2; exit 2 ;;
  esac
done
[[ "$students" =~ ^[1-9][0-9]*$ ]] || { echo "red.sh: --students necesita un número mayor que 0" >&2; exit 2; }
[[ -z "$duration" || "$duration" =~ ^[1-9][0-9]*$ ]] || { echo "red.sh: --duration necesita segundos" >&2; exit 2; }
[[ -z "$loss" || "$loss" =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "red.sh: --perdida necesita un porcentaje" >&2; exit 2; }

[[ "$(id -u)" == 0 ]] || { echo "red.sh: crear máquinas (ip netns) necesita ser root: sudo scripts/red.sh" >&2; exit 1; }
for tool in ip unshare; do
  command -v "$tool" >/dev/null || { echo "red.sh: falta $tool (apt-get install iproute2 util-linux)" >&2; exit 1; }
done
if [[ -n "$loss" ]] && ! command -v nft >/dev/null; then
  echo "red.sh: --perdida necesita nft (apt-get install nftables)" >&2; exit 1
fi

bridge=aula-red
net=10.250.0
hosts=(profesor-1 profesor-2 tareo-1 tareo-2 docencio-1 docencio-2 estudiantes)
declare -A addr=([profesor-1]=$net.11 [profesor-2]=$net.12 [tareo-1]=$net.21 [tareo-2]=$net.22
                 [docencio-1]=$net.31 [docencio-2]=$net.32 [estudiantes]=$net.41)
declare -A cable=([profesor-1]=aula-red-p1 [profesor-2]=aula-red-p2 [tareo-1]=aula-red-t1 [tareo-2]=aula-red-t2
                  [docencio-1]=aula-red-d1 [docencio-2]=aula-red-d2 [estudiantes]=aula-red-e)
if ip link show "$bridge" >/dev/null 2>&1 || ip netns list | grep -q '^aula-red-'; then
  echo "red.sh: ya hay una clase en red (el puente $bridge o espacios aula-red-*): deténla antes, o bórralos con:" >&2
  echo "  ip link del $bridge; for n in \$(ip netns list | grep -o '^aula-red-[a-z0-9-]*'); do ip netns del \$n; done" >&2
  exit 1
fi

find_binaries red.sh "$root"
log_dir="${AULA_LOG_DIR:-$root/logs}/red"
mkdir -p "$log_dir"
data_dir=$(mktemp -d "${TMPDIR:-/tmp}/aula-red.XXXXXX")
made_database=""
declare -A pid=()

# Removes everything this script made, whatever state it got to.
cleanup() {
  trap '' INT TERM HUP
  local host
  for host in estudiantes docencio-1 docencio-2 tareo-1 tareo-2 profesor-1 profesor-2; do
    stop_host "$host"
  done
  sleep 0.2 # let the log prefixers print their last lines
  for host in "${hosts[@]}"; do ip netns del "aula-red-$host" 2>/dev/null; done
  ip link del "$bridge" 2>/dev/null
  if [[ -n "$made_database" ]]; then
    psql -h /run/postgresql -U postgres -qAtc "DROP DATABASE IF EXISTS aula_red WITH (FORCE)" >/dev/null 2>&1 \
      && echo "red.sh: base aula_red borrada"
  fi
  rm -rf "$data_dir"
  echo "red.sh: máquinas, puente y procesos retirados"
}

# Stops HOST's role (SIGTERM, then SIGKILL after 12 s).
stop_host() {
  local p="${pid[$1]:-}" i
  [[ -n "$p" ]] && kill -0 "$p" 2>/dev/null || return 0
  kill -TERM "$p" 2>/dev/null
  for (( i = 0; i < 120; i++ )); do
    kill -0 "$p" 2>/dev/null || return 0
    # A zombie is gone already.
    [[ "$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null)" == Z ]] && return 0
    sleep 0.1
  done
  echo "red.sh: $1 no se detuvo en 12 s: kill -9" >&2
  kill -KILL "$p" 2>/dev/null
}
trap cleanup EXIT
trap 'exit 0' INT TERM HUP

# The network: a bridge with one cable to every host.
ip link add "$bridge" type bridge && ip addr add "$net.1/24" dev "$bridge" && ip link set "$bridge" up || exit 1
for host in "${hosts[@]}"; do
  ns="aula-red-$host"
  ip netns add "$ns" || exit 1
  ip link add "${cable[$host]}" type veth peer name eth0 netns "$ns" || exit 1
  ip link set "${cable[$host]}" master "$bridge" up
  ip -n "$ns" addr add "${addr[$host]}/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" link set lo up
  if [[ -n "$loss" ]]; then
    per_million=$(awk -v p="$loss" 'BEGIN { printf "%d", p * 10000 }')
    ip netns exec "$ns" nft -f - <<NFT || exit 1
table inet perdida {
  chain entrada { type filter hook input priority 0; numgen random mod 1000000 < $per_million drop; }
  chain salida { type filter hook output priority 0; numgen random mod 1000000 < $per_million drop; }
}
NFT
  fi
done

# The database both Profesors share.
database_url="${AULA_DATABASE_URL:-}"
if [[ -z "$database_url" ]]; then
  if [[ -S /run/postgresql/.s.PGSQL.5432 ]] && command -v psql >/dev/null \
     && psql -h /run/postgresql -U postgres -qAtc "CREATE DATABASE aula_red" >/dev/null 2>&1; then
    made_database=1
    database_url="postgres://postgres@%2Frun%2Fpostgresql/aula_red"
  else
    echo "red.sh: sin PostgreSQL en /run/postgresql (o sin permiso para crear aula_red): los dos Profesor comparten un archivo SQLite en $data_dir" >&2
  fi
fi

token=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')

# Starts a role on HOST, as that host (its network and its host name),
# its output prefixed with the host's name and kept in its log.
start_on() {
  local host="$1"; shift
  local tag="[$host] "
  [[ -t 1 ]] && tag=$'\e[36m'"[$host]"$'\e[0m '
  : >"$log_dir/$host.log"
  ip netns exec "aula-red-$host" unshare --uts sh -c 'hostname "$0" && exec "$@"' "$host" "$@" \
    </dev/null > >(trap '' INT TERM; tee -a "$log_dir/$host.log" | sed -u "s/^/$tag/") 2>&1 &
  pid[$host]=$!
}

# Waits up to 30 s until HOST:PORT accepts; says which host did not.
wait_for() {
  local host="$1" port="$2" i
  for (( i = 0; i < 300; i++ )); do
    accepts "${addr[$host]}:$port" && return 0
    kill -0 "${pid[$host]}" 2>/dev/null || { echo "red.sh: $host terminó al arrancar; su registro: $log_dir/$host.log" >&2; exit 1; }
    sleep 0.1
  done
  echo "red.sh: $host no acepta conexiones en ${addr[$host]}:$port tras 30 s" >&2
  exit 1
}

profesores="http://${addr[profesor-1]}:4444,http://${addr[profesor-2]}:4444"
tareos="${addr[tareo-1]}:4445,${addr[tareo-2]}:4445"
docencios="${addr[docencio-1]}:4446,${addr[docencio-2]}:4446"
for host in profesor-1 profesor-2; do
  store=(--data-dir "$data_dir/$host")
  [[ -n "$database_url" ]] && store+=(--database-url "$database_url") || store=(--data-dir "$data_dir")
  mkdir -p "$data_dir/$host"
  start_on "$host" "$bin/profesor" --bind "${addr[$host]}:4444" --token "$token" "${store[@]}"
  wait_for "$host" 4444
done
for host in tareo-1 tareo-2; do
  start_on "$host" "$bin/tareo" --bind "${addr[$host]}:4445" --profesor-url "$profesores" --token "$token"
  wait_for "$host" 4445
done
for host in docencio-1 docencio-2; do
  start_on "$host" "$bin/docencio" --bind "${addr[$host]}:4446" --tareo-addr "$tareos" \
    --profesor-url "$profesores" --token "$token"
  wait_for "$host" 4446
done

cat <<TXT
red.sh: la clase en 7 máquinas (espacios de red en $net.0/24${loss:+, ${loss}% de paquetes perdidos en cada una})
  Profesor   $profesores  (almacén: ${database_url:-SQLite compartido})
  Tareo      $tareos
  Docencio   $docencios
  Panel      http://${addr[profesor-1]}:4444/panel  (o el de profesor-2: la misma cuenta)
  Token      $token  (Authorization: Bearer ...; los roles ya lo tienen)
Fallos para probar, desde otra terminal (como root):
  ip link set ${cable[tareo-1]} down     # aislar la máquina de tareo-1 (up para volver)
  ip netns pids aula-red-profesor-1 | xargs kill -9   # matar profesor-1
  ip netns pids aula-red-docencio-1 | xargs kill -9   # matar docencio-1: sus estudiantes pasan al otro
Ctrl-C detiene la clase y retira todo.
TXT

start_on estudiantes "$bin/estudiante" --docencio-addr "$docencios" --students "$students" "${student_args[@]}"

deadline=""
[[ -n "$duration" ]] && deadline=$(( SECONDS + duration ))
while kill -0 "${pid[estudiantes]}" 2>/dev/null && [[ "$(awk '{print $3}' "/proc/${pid[estudiantes]}/stat" 2>/dev/null)" != Z ]]; do
  [[ -n "$deadline" ]] && (( SECONDS >= deadline )) && break
  sleep 0.2
done
stop_host estudiantes
echo "red.sh: cuenta final: $(curl -s "http://${addr[profesor-1]}:4444/preguntas" 2>/dev/null || echo '?')"
exit 0
