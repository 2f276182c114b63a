# postgres.sh: a PostgreSQL server for the tests (tests/it/almacen.rs). Sourced
# by scripts/test.sh, not run.
#
# Uses AULA_TEST_DATABASE_URL when set, else the server on 127.0.0.1:5432
# (user postgres) when one answers. Otherwise, as root, installs Debian's
# postgresql when it is missing, starts a private cluster under
# target/postgres on port 55432 (trust authentication, loopback only), exports
# AULA_TEST_DATABASE_URL for it, and stops it when test.sh exits.
# AULA_PG_PRIVADO=1 starts the private cluster even where a server answers.

postgres_answers() { # HOST PORT
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

private_postgres() {
  local root="$1" port=55432 bin data log
  if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
    if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
      echo "postgres.sh: instalando postgresql (apt-get)" >&2
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends postgresql >/dev/null \
        || { echo "postgres.sh: no se pudo instalar postgresql" >&2; return 1; }
    else
      echo "postgres.sh: falta PostgreSQL (sudo apt-get install postgresql); las pruebas de PostgreSQL se omiten" >&2
      return 1
    fi
  fi
  bin="$(dirname "$(compgen -G "/usr/lib/postgresql/*/bin/initdb" | sort -V | tail -n 1)")"
  data="$root/target/postgres/datos"
  log="$root/target/postgres/servidor.log"
  mkdir -p "$root/target/postgres"
  # PostgreSQL refuses to run as root: the cluster belongs to user postgres.
  local as=()
  if [[ "$(id -u)" == 0 ]]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    chown postgres "$root/target/postgres"
    as=(runuser -u postgres --)
  fi
  if [[ ! -f "$data/PG_VERSION" ]]; then
    "${as[@]}" "$bin/initdb" -D "$data" -U postgres --auth=trust >/dev/null || return 1
  fi
  "${as[@]}" "$bin/pg_ctl" -D "$data" -l "$log" -w -t 30 \
    -o "-p $port -k '' -c listen_addresses=127.0.0.1" start >/dev/null || { tail -n 20 "$log" >&2; return 1; }
  export AULA_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
  AULA_PG_STOP=("${as[@]}" "$bin/pg_ctl" -D "$data" -m fast stop)
  echo "postgres.sh: PostgreSQL privado en 127.0.0.1:$port (target/postgres)" >&2
}

# Stops the private cluster, if this script started one.
stop_private_postgres() {
  if [[ -n "${AULA_PG_STOP+x}" ]]; then
    "${AULA_PG_STOP[@]}" >/dev/null 2>&1 || true
  fi
}

prepare_postgres() {
  local root="$1"
  if [[ -n "${AULA_TEST_DATABASE_URL:-}" ]]; then
    return 0
  fi
  if [[ "${AULA_PG_PRIVADO:-0}" != 1 ]] && postgres_answers 127.0.0.1 5432; then
    return 0
  fi
  private_postgres "$root" || true
}
