#!/usr/bin/env bash
# The test command: formatting, lints, then every test (unit, in-process
# integration, the real binaries and the launch script, and interop with
# notebook-style Python programs, the four tmux terminals, the live panel in
# headless Chromium). Needs a Rust toolchain (cargo, rustfmt, clippy), and
# installs tmux, chromium and chromium-driver when missing (apt-get, as
# root; scripts/herramientas.sh). python3 is used when present, and its
# tests say so when it is not.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

command -v cargo >/dev/null || { echo "test.sh: falta cargo (instala Rust: https://rustup.rs)" >&2; exit 1; }

# Hundreds of simulated students per test, two tests at a time: raise the
# open-files limit as far as this shell may.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

echo "== herramientas (tmux, chromium, chromedriver)"
scripts/herramientas.sh
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --locked --all-targets -- -D warnings
echo "== cargo test"
cargo test --locked
