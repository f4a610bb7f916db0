#!/usr/bin/env bash
# A throwaway PostgreSQL server for the test suite.
#   scripts/postgres.sh start DIR [CERT KEY]  starts one with its data in DIR and prints its
#                                             connection string; with a certificate and key
#                                             (PEM) it also accepts TLS
#   scripts/postgres.sh pause DIR             stops it, keeping its data and port
#   scripts/postgres.sh resume DIR            starts it again after a pause
#   scripts/postgres.sh stop DIR              stops it
# initdb refuses to run as root, so as root the server runs as the `postgres` user.
set -euo pipefail
cmd=$1 dir=$2
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
[ -n "$bin" ] && [ -x "$bin/initdb" ] || bin=$(dirname "$(command -v initdb)")
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
run() {
  as_pg "$bin/pg_ctl" -D "$dir/db" -l "$dir/server.log" -w -o "$(cat "$dir/options")" start >/dev/null
}
case $cmd in
  start)
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then chown postgres "$dir"; fi
    as_pg "$bin/initdb" -D "$dir/db" -U postgres --auth=trust -E UTF8 >"$dir/initdb.log" 2>&1
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    options="-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
    if [ $# -ge 4 ]; then
      # The server reads its key only if no one else can: its own copy, mode 0600.
      install -m 0644 "$3" "$dir/server.crt"
      install -m 0600 "$4" "$dir/server.key"
      if [ "$(id -u)" = 0 ]; then chown postgres "$dir/server.crt" "$dir/server.key"; fi
      options="$options -c ssl=on -c ssl_cert_file=$dir/server.crt -c ssl_key_file=$dir/server.key"
    fi
    echo "$options" >"$dir/options"
    run
    echo "host=127.0.0.1 port=$port user=postgres dbname=postgres"
    ;;
  pause | stop)
    as_pg "$bin/pg_ctl" -D "$dir/db" -m fast -w stop >/dev/null 2>&1 || true
    ;;
  resume)
    run
    ;;
  *) echo "usage: $0 start|pause|resume|stop DIR [CERT KEY]" >&2; exit 2 ;;
esac
