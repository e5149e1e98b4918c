#!/usr/bin/env bash
# A private PostgreSQL cluster for tests: a temporary directory, loopback only, its socket
# in that directory, run as the `postgres` user (initdb refuses root). No system service.
#
#   eval "$(bash scripts/pg.sh start)"   starts one; exports BATON_TEST_DATABASE_URL and BATON_PG_DIR
#                                        (a script under set -e: assign the output first, then eval)
#   bash scripts/pg.sh start --durable   the same with PostgreSQL's default durability (fsync,
#                                        synchronous commit, full-page writes): for benchmarks
#   bash scripts/pg.sh stop DIR          stops it and removes DIR
#
# Without --durable, for functional tests only: fsync and synchronous commit are off (a
# benchmark's figures would be the RAM's, not the disk's).
set -euo pipefail

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[[ -x $bin/initdb ]] || { echo "pg.sh: PostgreSQL is not installed (bash scripts/setup.sh installs it)" >&2; exit 1; }

case ${1:-} in
start)
  # Every setting but these is initdb's default (autovacuum included).
  durability="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
  case ${2:-} in
  "") ;;
  --durable) durability="" ;;
  *) echo "usage: pg.sh start [--durable]" >&2; exit 2 ;;
  esac
  dir=$(mktemp -d /tmp/baton-pg-XXXXXX)
  chown postgres:postgres "$dir"
  chmod 700 "$dir"
  runuser -u postgres -- "$bin/initdb" -D "$dir/data" -A trust -U postgres >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; exit 1; }
  # A free loopback port: ask the kernel for one.
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  runuser -u postgres -- "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 $durability -c max_connections=200" \
    start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
  echo "export BATON_PG_DIR=$dir"
  echo "export BATON_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:$port/postgres"
  ;;
stop)
  dir=${2:?usage: pg.sh stop DIR}
  [[ -d $dir/data ]] && runuser -u postgres -- "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
  ;;
*)
  echo "usage: pg.sh start [--durable] | stop DIR" >&2
  exit 2
  ;;
esac
