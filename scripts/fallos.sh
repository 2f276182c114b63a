#!/usr/bin/env bash
# Chaos run: a class of students asking without pause while roles are killed
# with -9 and started again, then a check that Profesor's count equals the
# real answers the students got. Prints the time each role took to recover
# and one line per kill. Not part of the test command; for instructors and
# for the figures in docs/fallos.md and docs/benchmark.md.
#
#   scripts/fallos.sh [--rounds N] [--students N] [--roles "tareo profesor docencio"]
#
# Environment: AULA_CAOS_BASE_PORT (default 5540: Profesor, Tareo and
# Docencio listen on BASE+4, BASE+5, BASE+6).
set -euo pipefail

rounds=6
students=64
roles="tareo profesor docencio"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --students) students="$2"; shift 2 ;;
    --roles) roles="$2"; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "fallos.sh: opción desconocida: $1" >&2; exit 2 ;;
  esac
done

root="$(cd "$(dirname "$0")/.." && pwd)"
cargo build --release --quiet --manifest-path "$root/Cargo.toml"
bin="$root/target/release"
base="${AULA_CAOS_BASE_PORT:-5540}"
profesor_addr="127.0.0.1:$((base + 4))"
tareo_addr="127.0.0.1:$((base + 5))"
docencio_addr="127.0.0.1:$((base + 6))"
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
export RUST_LOG=warn

declare -A pid
start() {
  case "$1" in
    profesor) "$bin/profesor" --bind "$profesor_addr" --data-dir "$work/datos" 2>>"$work/profesor.log" & ;;
    tareo) "$bin/tareo" --bind "$tareo_addr" --profesor-url "http://$profesor_addr" 2>>"$work/tareo.log" & ;;
    docencio) "$bin/docencio" --bind "$docencio_addr" --tareo-addr "$tareo_addr" \
        --profesor-url "http://$profesor_addr" --data-dir "$work/datos" 2>>"$work/docencio.log" & ;;
  esac
  pid[$1]=$!
}

# One line per real answer a probe got (Profesor counts those too); a file,
# because until_answered runs in a subshell.
probes="$work/sondas"
: >"$probes"
# Asks QUESTION until it gets a real answer; prints the milliseconds taken.
until_answered() {
  local question="$1" started now out
  started=$(date +%s%3N)
  while :; do
    out="$("$bin/estudiante" --docencio-addr "$docencio_addr" --questions 1 --no-pause \
      --only "$question" --answer-timeout-ms 6000 2>/dev/null || true)"
    if grep -q "de Tareo o Profesor: 1 " <<<"$out"; then
      echo >>"$probes"
      break
    fi
    now=$(date +%s%3N)
    if (( now - started > 30000 )); then echo "sin recuperar en 30 s"; return; fi
    sleep 0.02
  done
  now=$(date +%s%3N)
  echo "$((now - started))"
}

relayed_of() { sed -n 's/.*de Tareo o Profesor: \([0-9]*\).*/\1/p' "$1" | tail -1; }

for role in profesor tareo docencio; do start "$role"; done
until_answered "Pregunta Dificil" >/dev/null
"$bin/estudiante" --docencio-addr "$docencio_addr" --students "$students" --no-pause \
  --seed 7 >"$work/clase.txt" 2>"$work/estudiante.log" &
class=$!
sleep 1

printf '%-6s %-9s %s\n' ronda rol "respuestas de nuevo tras reiniciar (ms)"
read -r -a victims <<<"$roles"
for ((round = 1; round <= rounds; round++)); do
  victim="${victims[$(( (round - 1) % ${#victims[@]} ))]}"
  kill -KILL "${pid[$victim]}"
  wait "${pid[$victim]}" 2>/dev/null || true
  sleep 1
  start "$victim"
  case "$victim" in
    profesor) question="Pregunta Dificil" ;;
    *) question="Tarea" ;;
  esac
  printf '%-6s %-9s %s\n' "$round" "$victim" "$(until_answered "$question")"
  sleep 1.5
done

kill -TERM "$class"
wait "$class" || true
# Docencio delivers what it owes on SIGTERM; Profesor answers the total.
kill -TERM "${pid[docencio]}"
wait "${pid[docencio]}" || true
students_relayed="$(relayed_of "$work/clase.txt")"
probe_relayed="$(wc -l <"$probes")"
expected=$((students_relayed + probe_relayed))
counted="$(curl -s "http://$profesor_addr/preguntas" | sed -n 's/.*"total":\([0-9]*\).*/\1/p')"
echo
sed -n '1,6p' "$work/clase.txt"
echo
echo "respuestas reales: $expected (estudiantes $students_relayed + sondas $probe_relayed)"
echo "contadas por Profesor: $counted"
if (( counted == expected )); then
  echo "perdidas: 0, contadas dos veces: 0"
elif (( counted < expected )); then
  echo "perdidas: $((expected - counted)) (respuestas entregadas después del último guardado de un Docencio matado con -9), contadas dos veces: 0"
else
  echo "CONTADAS DE MÁS: $((counted - expected))"
  exit 1
fi
