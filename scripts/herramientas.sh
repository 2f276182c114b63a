#!/usr/bin/env bash
# herramientas.sh: the programs some tests drive, installed when missing:
# tmux (the four terminals, the progress bar) and Debian's Chromium with
# ChromeDriver (the live panel in a real browser). Called by scripts/test.sh.
# Installs with apt-get as root (as CI runs); otherwise says what to install.
set -uo pipefail

missing=()
command -v tmux >/dev/null || missing+=(tmux)
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
(( ${#missing[@]} == 0 )) && exit 0

if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
  echo "herramientas.sh: instalando ${missing[*]} (apt-get)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  exit $?
fi
echo "herramientas.sh: faltan ${missing[*]}; en Debian/Ubuntu: sudo apt-get install ${missing[*]}" >&2
exit 1
