# test/lib/pg.sh: start and stop a throwaway PostgreSQL cluster for tests.
#
#   source test/lib/pg.sh
#   pg_start [postgresql.conf lines...]   # exports PGHOST PGPORT PGUSER PGDATA_DIR
#   pg_restart [-m fast|immediate]
#   pg_stop
#
# PostgreSQL refuses to run as root, so the server runs as the `postgres`
# user (created by the Debian package); clients may run as root.  The
# cluster lives in a temporary directory and listens on 127.0.0.1 only.

PG_BINDIR=${PG_BINDIR:-$(pg_config --bindir)}

pg__free_port() {
    python3 - <<'PY'
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
PY
}

pg__as_postgres() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

pg_start() {
    PGDATA_DIR=$(mktemp -d /tmp/sandbox-pg.XXXXXX)
    chmod 755 "$PGDATA_DIR"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$PGDATA_DIR"
    pg__as_postgres "$PG_BINDIR/initdb" -D "$PGDATA_DIR/data" -A trust -U postgres \
        -E UTF8 --locale=C.UTF-8 --no-sync >"$PGDATA_DIR/initdb.log" 2>&1 || {
        cat "$PGDATA_DIR/initdb.log"; return 1; }
    PGPORT=$(pg__free_port)
    {
        echo "listen_addresses = '127.0.0.1'"
        echo "port = $PGPORT"
        echo "unix_socket_directories = '$PGDATA_DIR'"
        echo "fsync = off"
        echo "full_page_writes = off"
        echo "log_line_prefix = '%m [%p] %q%u@%d '"
        echo "log_min_messages = info"
        echo "max_connections = 200"
        for line in "$@"; do echo "$line"; done
    } | pg__as_postgres tee -a "$PGDATA_DIR/data/postgresql.conf" >/dev/null
    pg__as_postgres "$PG_BINDIR/pg_ctl" -D "$PGDATA_DIR/data" -l "$PGDATA_DIR/server.log" \
        -w -t 60 start >/dev/null || { cat "$PGDATA_DIR/server.log"; return 1; }
    export PGHOST=127.0.0.1 PGPORT PGUSER=postgres PGDATA_DIR
    export PG_SERVER_LOG="$PGDATA_DIR/server.log"
}

pg_conf() {
    for line in "$@"; do echo "$line"; done | pg__as_postgres tee -a "$PGDATA_DIR/data/postgresql.conf" >/dev/null
}

pg_restart() {
    pg__as_postgres "$PG_BINDIR/pg_ctl" -D "$PGDATA_DIR/data" -l "$PGDATA_DIR/server.log" \
        -w -t 60 "$@" restart >/dev/null
}

pg_reload() {
    pg__as_postgres "$PG_BINDIR/pg_ctl" -D "$PGDATA_DIR/data" reload >/dev/null
}

pg_stop() {
    [ -n "${PGDATA_DIR:-}" ] || return 0
    pg__as_postgres "$PG_BINDIR/pg_ctl" -D "$PGDATA_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
}

# pg_check_no_crash fails when the server log shows a crashed backend.
pg_check_no_crash() {
    if grep -E "terminated by signal|was terminated by exception|PANIC" "$PG_SERVER_LOG" >/dev/null; then
        echo "server log shows a crash:" >&2
        grep -E -B2 -A5 "terminated by signal|was terminated by exception|PANIC" "$PG_SERVER_LOG" >&2
        return 1
    fi
}

pg_cleanup() {
    pg_stop
    [ -n "${PGDATA_DIR:-}" ] && [ -z "${KEEP_TMP:-}" ] && rm -rf "$PGDATA_DIR"
    PGDATA_DIR=
}
