# test/lib/gitserver.sh - a local git server for tests (smart HTTP).
#
#   source test/lib/gitserver.sh
#   gitserver_start [PASSWORD]      # exports GITSERVER_PID GITSERVER_PORT GITSERVER_URL
#                                   #   GITSERVER_DIR GITSERVER_LOG GITSERVER_PASSWORD
#   gitserver_seed NAME             # a bare repository NAME.git with one commit on main:
#                                   #   README.md, src/app.py, src/util.sh
#   git clone $GITSERVER_URL/NAME.git            (anonymous: clone, fetch, push)
#   git clone $GITSERVER_URL/auth/NAME.git       (Basic auth, password PASSWORD)
#   gitserver_rev NAME REF          # the commit id of REF (a branch...) on the server, or nothing
#   gitserver_show NAME REF:PATH    # a file at REF on the server
#   gitserver_log NAME REF          # git log --oneline of REF on the server
#   gitserver_git NAME ARGS...      # any git command in the bare repository
#   gitserver_stop                  # stops it (also run by gitserver_stop_all at exit)
#
# Why smart HTTP and not git daemon: http(s) is what the extension
# authenticates with a secret (the password of repo.secret); git daemon has
# no authentication at all.  The server is test/lib/gitserver.py
# (python3's http.server running Debian's `git http-backend` as CGI; both in
# Debian 12: python3, git), on a free 127.0.0.1 port.  Push is enabled
# (http.receivepack true in each seeded repository).  Its log has one line per
# request (method, path, status), never a header, so the password is never in
# it.  Neither git daemon nor a web server package is needed.

GITSERVER_REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

gitserver_start() {
    GITSERVER_PASSWORD=${1:-${GITSERVER_PASSWORD:-}}
    GITSERVER_DIR=$(mktemp -d "${TMPDIR:-/tmp}/gitserver.XXXXXX")
    chmod 755 "$GITSERVER_DIR"
    mkdir -p "$GITSERVER_DIR/repos"
    GITSERVER_LOG=$GITSERVER_DIR/gitserver.log
    GITSERVER_PASSWORD="$GITSERVER_PASSWORD" python3 "$GITSERVER_REPO_ROOT/test/lib/gitserver.py" \
        "$GITSERVER_DIR/repos" 0 >"$GITSERVER_DIR/stdout" 2>"$GITSERVER_LOG" &
    GITSERVER_PID=$!
    local line=""
    for _ in $(seq 1 200); do
        line=$(head -n1 "$GITSERVER_DIR/stdout" 2>/dev/null)
        [ -n "$line" ] && break
        kill -0 "$GITSERVER_PID" 2>/dev/null || { cat "$GITSERVER_LOG" >&2; return 1; }
        sleep 0.05
    done
    GITSERVER_PORT=${line##*:}
    [ -n "$GITSERVER_PORT" ] || { echo "gitserver_start: no port" >&2; return 1; }
    GITSERVER_URL="http://127.0.0.1:$GITSERVER_PORT"
    export GITSERVER_PID GITSERVER_PORT GITSERVER_URL GITSERVER_DIR GITSERVER_LOG GITSERVER_PASSWORD
}

# gitserver_seed NAME: a bare repository with one commit on main
gitserver_seed() {
    local name=$1 work
    work=$(mktemp -d "${TMPDIR:-/tmp}/gitseed.XXXXXX")
    git init -q -b main "$work"
    mkdir -p "$work/src"
    printf '# %s\n\nA small repository for the workspace tests.\n' "$name" >"$work/README.md"
    printf 'def greet(name):\n    return "hello, " + name\n\nif __name__ == "__main__":\n    print(greet("world"))\n' >"$work/src/app.py"
    printf '#!/bin/sh\necho util\n' >"$work/src/util.sh"
    git -C "$work" add -A
    git -C "$work" -c user.name=seed -c user.email=seed@example.invalid \
        commit -q -m "Seed $name"
    git clone -q --bare "$work" "$GITSERVER_DIR/repos/$name.git"
    git -C "$GITSERVER_DIR/repos/$name.git" config http.receivepack true
    git -C "$GITSERVER_DIR/repos/$name.git" symbolic-ref HEAD refs/heads/main
    rm -rf "$work"
}

gitserver_git() { local name=$1; shift; git --git-dir="$GITSERVER_DIR/repos/$name.git" "$@"; }
gitserver_rev() { gitserver_git "$1" rev-parse --verify -q "refs/heads/$2" 2>/dev/null || true; }
gitserver_show() { gitserver_git "$1" show "$2"; }
gitserver_log() { gitserver_git "$1" log --format='%h %s' "$2"; }

gitserver_stop() {
    [ -n "${GITSERVER_PID:-}" ] || return 0
    kill -TERM "$GITSERVER_PID" 2>/dev/null || true
    wait "$GITSERVER_PID" 2>/dev/null || true
    GITSERVER_PID=
    [ -n "${KEEP_TMP:-}" ] || rm -rf "$GITSERVER_DIR"
}
