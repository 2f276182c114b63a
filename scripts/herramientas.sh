#!/usr/bin/env bash
# herramientas.sh: the programs some tests drive, installed when missing:
# tmux (the four terminals, the progress bar) and Debian's Chromium with
# ChromeDriver (the live panel in a real browser), iproute2 and nftables (the
# class across hosts in network namespaces, with packet loss). Called by
# scripts/test.sh.
# Installs with apt-get as root (as CI runs); otherwise says what to install.
# Exits 1 when something is still missing: test.sh goes on, and the tests
# that need it say they are skipped (or fail, as root or under CI=true).
set -uo pipefail

missing=()
command -v tmux >/dev/null || missing+=(tmux)
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
command -v ip >/dev/null || missing+=(iproute2)
command -v nft >/dev/null || missing+=(nftables)
(( ${#missing[@]} == 0 )) && exit 0

if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
  echo "herramientas.sh: instalando ${missing[*]} (apt-get)" >&2
  export DEBIAN_FRONTEND=noninteractive
  if apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
    exit 0
  fi
  echo "herramientas.sh: apt-get no pudo instalar ${missing[*]}" >&2
  exit 1
fi
echo "herramientas.sh: faltan ${missing[*]} (para instalarlas hace falta ser root); en Debian/Ubuntu: sudo apt-get install ${missing[*]}" >&2
exit 1
