#!/usr/bin/env bash
# The benchmark: the class at full speed, side by side with the floor (a
# bare framed server) and with the notebook's own Python stack. Builds in
# release mode, starts fresh roles on free ports for every run, uses
# `estudiante` as the load, and prints one table and one JSON line per
# scenario. Not part of the test command. Takes about 3 minutes.
#
#   scripts/bench.sh [--rounds N] [--questions N] [--scenarios 1,3,...]
#                    [--docencio-flag=--FLAG=VALUE] [--no-notebook] [--help]
#
# Scenario 7 (the notebook's stack) needs python3 with venv: Flask and
# requests are installed into target/bench/venv the first time (from PyPI,
# versions in benches/cuaderno/requirements.txt). Logs of every run are in
# target/bench/logs/. `--help` after the build lists every option.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
args=()
notebook=1
for arg in "$@"; do
  case "$arg" in
    --no-notebook) notebook=0 ;;
    *) args+=("$arg") ;;
  esac
done

# 10,000 students and Docencio's 10,000 sockets: each process raises its own
# soft limit to the hard one; raise the hard one here where we may.
ulimit -Hn 65536 2>/dev/null || true
ulimit -Sn "$(ulimit -Hn)" 2>/dev/null || true

if [[ $notebook == 1 ]]; then
  venv="$root/target/bench/venv"
  if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'import flask, requests' 2>/dev/null; then
    if command -v python3 >/dev/null && python3 -m venv "$venv" >/dev/null 2>&1 \
      && "$venv/bin/pip" install --quiet -r benches/cuaderno/requirements.txt; then
      echo "bench.sh: Flask y requests instalados en $venv" >&2
    else
      echo "bench.sh: no se pudo preparar Python con Flask (python3 -m venv); se omite el escenario 7" >&2
      rm -rf "$venv"
    fi
  fi
  if [[ -x "$venv/bin/python" ]]; then
    args+=(--python "$venv/bin/python")
  fi
fi

exec cargo bench --locked --quiet --bench clase -- "${args[@]}"
