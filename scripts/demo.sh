#!/usr/bin/env bash
# scripts/demo.sh: the main job.  Installs what is needed, builds, starts a
# local PostgreSQL cluster with the extension preloaded, sandboxd (the local
# E2B-compatible host) and modeld (the scripted model), then shows
# sandbox_exec, sandbox_run_code and an agent run followed to its end, then a
# repo run end to end against a local git server (test/lib/gitserver.py, git
# http-backend on 127.0.0.1): the run clones a seeded repository onto a new
# branch, a command changes a file, the diff is kept as an artifact and the
# branch is pushed; the demo prints the diff and the pushed branch's log.
# Last, an interactive run (issue 12): its command waits for an approval,
# the demo approves it with sandbox_approve, its output comes as tool_output
# events while it runs, and the run is continued (sandbox_continue_run) in
# the same sandbox.
#
#   ./scripts/demo.sh          # start everything and run the demo
#   ./scripts/demo.sh stop     # stop the cluster and the servers
#
# Run as root (it installs packages and starts PostgreSQL as the postgres
# user); as another user, with sudo.
# With E2B_API_KEY set, real E2B is used instead of sandboxd.  With
# ANTHROPIC_API_KEY set, real Claude is used instead of modeld; with
# OPENAI_BASE_URL (and OPENAI_API_KEY if needed), any OpenAI-compatible
# server (OpenAI, vLLM, Ollama, llama.cpp).  Everything listens on 127.0.0.1.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEMO=${SANDBOX_DEMO_DIR:-/tmp/sandbox-demo}
cd "$ROOT"

if [ "$(id -u)" != 0 ]; then
    echo "demo.sh: run as root (it installs Debian packages and runs PostgreSQL as the postgres user):" >&2
    echo "  sudo $0 ${1:-}" >&2
    exit 1
fi

stop_all() {
    if [ -f "$DEMO/pgdata/postmaster.pid" ]; then
        runuser -u postgres -- "$(pg_config --bindir)/pg_ctl" -D "$DEMO/pgdata" -m fast -w stop >/dev/null || true
    fi
    for p in sandboxd modeld gitserver; do
        if [ -f "$DEMO/$p.pid" ]; then
            kill "$(cat "$DEMO/$p.pid")" 2>/dev/null || true
            rm -f "$DEMO/$p.pid"
        fi
    done
}

if [ "${1:-}" = stop ]; then
    stop_all
    echo "demo stopped (data kept in $DEMO; remove it to start afresh)"
    exit 0
fi

"$ROOT/scripts/install-deps.sh"
make -s -j2
make -s -j2 tools          # sandboxd and modeld (hosts/)
make -s install >/dev/null
stop_all
mkdir -p "$DEMO"
chmod 755 "$DEMO"

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# E2B: real, or sandboxd
if [ -n "${E2B_API_KEY:-}" ]; then
    E2B_URL=${E2B_API_URL:-https://api.e2b.app}
    SANDBOX_URL=${E2B_SANDBOX_URL:-}
    KEY=$E2B_API_KEY
    echo "using E2B at $E2B_URL"
else
    KEY="e2b_$(head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    API_PORT=$(free_port); SB_PORT=$(free_port)
    nohup "$ROOT/hosts/sandboxd/sandboxd" --api-port "$API_PORT" --sandbox-port "$SB_PORT" \
        --api-key "$KEY" --data-dir "$DEMO/sandboxes" >"$DEMO/sandboxd.log" 2>&1 &
    echo $! >"$DEMO/sandboxd.pid"
    E2B_URL="http://127.0.0.1:$API_PORT"
    SANDBOX_URL="http://127.0.0.1:$SB_PORT"
    echo "started sandboxd on $E2B_URL (sandbox traffic $SANDBOX_URL); log $DEMO/sandboxd.log"
fi

# LLM: Anthropic, an OpenAI-compatible server, or modeld
if [ -n "${ANTHROPIC_API_KEY:-}" ]; then
    PROVIDER=anthropic; LLM_URL=${ANTHROPIC_BASE_URL:-https://api.anthropic.com}; LLM_KEY=$ANTHROPIC_API_KEY
    MODEL=${SANDBOX_MODEL:-claude-sonnet-4-20250514}
elif [ -n "${OPENAI_BASE_URL:-}" ] || [ -n "${OPENAI_API_KEY:-}" ]; then
    PROVIDER=openai; LLM_URL=${OPENAI_BASE_URL:-https://api.openai.com/v1}; LLM_KEY=${OPENAI_API_KEY:-}
    MODEL=${SANDBOX_MODEL:-gpt-4o-mini}
else
    LLM_PORT=$(free_port)
    nohup "$ROOT/hosts/modeld/modeld" --port "$LLM_PORT" >"$DEMO/modeld.log" 2>&1 &
    echo $! >"$DEMO/modeld.pid"
    PROVIDER=anthropic; LLM_URL="http://127.0.0.1:$LLM_PORT"; LLM_KEY=demo
    MODEL=claude-sonnet-4-20250514
    echo "started modeld (scripted model) on $LLM_URL; log $DEMO/modeld.log"
fi

# the cluster
PGPORT=$(free_port)
if [ ! -d "$DEMO/pgdata" ]; then
    chown postgres:postgres "$DEMO"
    runuser -u postgres -- "$(pg_config --bindir)/initdb" -D "$DEMO/pgdata" -A trust -U postgres \
        -E UTF8 --locale=C.UTF-8 >/dev/null
fi
runuser -u postgres -- tee "$DEMO/pgdata/sandbox.conf" >/dev/null <<EOF
listen_addresses = '127.0.0.1'
port = $PGPORT
unix_socket_directories = '$DEMO'
shared_preload_libraries = 'sandbox'
sandbox.database = 'postgres'
sandbox.e2b_api_key = '$KEY'
sandbox.e2b_api_url = '$E2B_URL'
sandbox.e2b_sandbox_url = '$SANDBOX_URL'
sandbox.llm_provider = '$PROVIDER'
sandbox.llm_api_url = '$LLM_URL'
sandbox.llm_api_key = '$LLM_KEY'
sandbox.llm_model = '$MODEL'
EOF
grep -q "include_if_exists = 'sandbox.conf'" "$DEMO/pgdata/postgresql.conf" ||
    echo "include_if_exists = 'sandbox.conf'" | runuser -u postgres -- tee -a "$DEMO/pgdata/postgresql.conf" >/dev/null
runuser -u postgres -- "$(pg_config --bindir)/pg_ctl" -D "$DEMO/pgdata" -l "$DEMO/postgres.log" -w start >/dev/null
export PGHOST=127.0.0.1 PGPORT PGUSER=postgres PGDATABASE=postgres
echo "started PostgreSQL on 127.0.0.1:$PGPORT with the sandbox extension preloaded; log $DEMO/postgres.log"
PGOPTIONS="-c client_min_messages=warning" psql -X -q -c "CREATE EXTENSION IF NOT EXISTS sandbox"

show() { echo; echo "sandbox=# $1"; psql -X -c "$1" || true; }

show "SELECT * FROM sandbox_exec('python3 -c \"print(6*7)\"');"
SB=$(psql -X -At -q -c "SELECT sandbox_create('code-interpreter-v1')")
show "SELECT sandbox_run_code('$SB', 'import math; [math.pi, sum(range(10))]');"
show "SELECT sandbox_write_file('$SB', '/home/user/hello.py', 'print(\"hello from the sandbox\")');"
show "SELECT stdout, exit_code FROM sandbox_exec('$SB', 'python3 hello.py && ls -l');"
show "SELECT sandbox_kill('$SB');"

RUN=$(psql -X -At -q -c "INSERT INTO agent_runs (prompt) VALUES (\$p\$Write fib(n) with memoization and test it for 0..10.
\`\`\`python
from functools import lru_cache
@lru_cache(maxsize=None)
def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)
print([fib(i) for i in range(11)])
\`\`\`
\$p\$) RETURNING id")
echo
echo "enqueued agent run $RUN; following its events:"
seen=0
print_new_events() {
    local rows
    rows=$(psql -X -At -q -F ' | ' -c "SELECT seq, to_char(at, 'HH24:MI:SS.MS'), kind, left(data::text, 150)
                                       FROM agent_run_events WHERE run_id = '$RUN' AND seq > $seen ORDER BY seq")
    if [ -n "$rows" ]; then
        echo "$rows" | while IFS= read -r line; do echo "  $line"; done
        seen=$(echo "$rows" | tail -1 | cut -d' ' -f1)
    fi
}
for _ in $(seq 1 600); do
    print_new_events
    st=$(psql -X -At -q -c "SELECT status FROM agent_runs WHERE id = '$RUN'")
    if [ "$st" = completed ] || [ "$st" = failed ] || [ "$st" = cancelled ]; then
        sleep 0.5   # the sandbox is killed just after the last status
        print_new_events
        break
    fi
    sleep 0.2
done
show "SELECT status, plan->>'text' AS plan, result->>'text' AS result, error FROM agent_runs WHERE id = '$RUN';"

# --- a repo run end to end: clone, change, diff, push --------------------------
# A local git server (smart HTTP: git http-backend behind python3's
# http.server) with a seeded repository.  With real E2B the sandboxes could
# not reach 127.0.0.1, so this part needs sandboxd.
if [ -n "${E2B_API_KEY:-}" ]; then
    echo
    echo "(the repo run needs a git server the sandboxes can reach: skipped with real E2B)"
else
    GIT_ROOT=$DEMO/git
    if [ ! -d "$GIT_ROOT/repos/greeter.git" ]; then
        rm -rf "$GIT_ROOT"; mkdir -p "$GIT_ROOT/repos" "$GIT_ROOT/seed/src"
        git init -q -b main "$GIT_ROOT/seed"
        printf '# greeter\n\nSays hello.\n' >"$GIT_ROOT/seed/README.md"
        printf 'def greet(name):\n    return "hello, " + name\n\nif __name__ == "__main__":\n    print(greet("world"))\n' >"$GIT_ROOT/seed/src/app.py"
        git -C "$GIT_ROOT/seed" add -A
        git -C "$GIT_ROOT/seed" -c user.name=demo -c user.email=demo@example.invalid commit -q -m "Initial greeter"
        git clone -q --bare "$GIT_ROOT/seed" "$GIT_ROOT/repos/greeter.git"
        git -C "$GIT_ROOT/repos/greeter.git" config http.receivepack true
        rm -rf "$GIT_ROOT/seed"
    fi
    nohup python3 "$ROOT/test/lib/gitserver.py" "$GIT_ROOT/repos" 0 >"$DEMO/gitserver.out" 2>"$DEMO/gitserver.log" &
    echo $! >"$DEMO/gitserver.pid"
    for _ in $(seq 1 100); do grep -q listening "$DEMO/gitserver.out" 2>/dev/null && break; sleep 0.05; done
    GIT_URL="http://127.0.0.1:$(sed -n 's/.*:\([0-9]*\)$/\1/p' "$DEMO/gitserver.out")"
    echo
    echo "started a git server on $GIT_URL with greeter.git (one commit on main); log $DEMO/gitserver.log"
    RUN=$(psql -X -At -q -c "INSERT INTO agent_runs (prompt, repo) VALUES (\$p\$In the repository at /home/user/repo, make the greeting friendlier and add a test.
\`\`\`bash
cd /home/user/repo && sed -i 's/hello, /hello there, /' src/app.py && printf 'from app import greet\nassert greet(\"ann\") == \"hello there, ann\"\nprint(\"ok\")\n' > src/test_app.py && cd src && python3 -B test_app.py
\`\`\`
\$p\$, '{\"url\": \"$GIT_URL/greeter.git\", \"push\": true}') RETURNING id")
    echo "enqueued repo run $RUN (repo => {\"url\": \"$GIT_URL/greeter.git\", \"push\": true}); following its events:"
    seen=0
    for _ in $(seq 1 600); do
        print_new_events
        st=$(psql -X -At -q -c "SELECT status FROM agent_runs WHERE id = '$RUN'")
        if [ "$st" = completed ] || [ "$st" = failed ] || [ "$st" = cancelled ]; then
            sleep 0.5
            print_new_events
            break
        fi
        sleep 0.2
    done
    show "SELECT status, commit_id, error FROM agent_runs WHERE id = '$RUN';"
    show "SELECT path, kind, size, sha256, cut FROM agent_run_artifacts WHERE run_id = '$RUN' ORDER BY path;"
    echo
    echo "the diff artifact (repo.diff):"
    psql -X -At -q -c "SELECT convert_from(content, 'UTF8') FROM agent_run_artifacts WHERE run_id = '$RUN' AND path = 'repo.diff'" | sed 's/^/  | /'
    echo
    echo "the pushed branch on the git server (git log run-$RUN):"
    git --git-dir="$GIT_ROOT/repos/greeter.git" log --stat --format='commit %H%nAuthor: %an <%ae>%n%n    %s%n' "run-$RUN" 2>&1 | sed 's/^/  /' || true
fi
# --- an interactive run: approval, live output, then continued ----------------
# follow_run RUN STATUS-REGEX: prints the run's new events until its status matches
follow_run() {
    RUN=$1
    for _ in $(seq 1 600); do
        print_new_events
        st=$(psql -X -At -q -c "SELECT status FROM agent_runs WHERE id = '$RUN'")
        if [[ "$st" =~ ^($2)$ ]]; then
            sleep 0.5
            print_new_events
            return 0
        fi
        sleep 0.2
    done
    return 1
}
IRUN=$(psql -X -At -q -c "INSERT INTO agent_runs (prompt, approval, keep_sandbox) VALUES (\$p\$Count to three, slowly, into a file.
\`\`\`bash
for i in 1 2 3; do echo \"count \$i\" | tee -a /home/user/count.txt; sleep 1; done
\`\`\`
\$p\$, '{commands}', '10 minutes') RETURNING id")
echo
echo "enqueued interactive run $IRUN (approval => '{commands}': its commands wait for a person); following its events:"
seen=0
if follow_run "$IRUN" "waiting|completed|failed|cancelled" && [ "$st" = waiting ]; then
    CALL=$(psql -X -At -q -c "SELECT approval_call FROM agent_runs WHERE id = '$IRUN'")
    show "SELECT sandbox_approve('$IRUN', '$CALL', true, 'go ahead');"
    echo "approved; its output comes as tool_output events while the command runs:"
    follow_run "$IRUN" "completed|failed|cancelled" || true
    if [ "$st" = completed ]; then
        CRUN=$(psql -X -At -q -c "SELECT sandbox_continue_run('$IRUN', \$p\$Now read the file back.
\`\`\`bash
cat /home/user/count.txt
\`\`\`
\$p\$)")
        echo
        echo "continued it as run $CRUN (same sandbox, same conversation); following its events:"
        seen=0
        follow_run "$CRUN" "waiting|completed|failed|cancelled" || true
        if [ "$st" = waiting ]; then
            CALL=$(psql -X -At -q -c "SELECT approval_call FROM agent_runs WHERE id = '$CRUN'")
            show "SELECT sandbox_approve('$CRUN', '$CALL', true);"
            follow_run "$CRUN" "completed|failed|cancelled" || true
        fi
        show "SELECT r.id = '$IRUN' AS first_run, count(*) AS events FROM sandbox_thread('$CRUN') t JOIN agent_runs r ON r.id = t.run_id GROUP BY 1 ORDER BY 1 DESC;"
    fi
fi

echo
echo "The cluster keeps running: psql -h 127.0.0.1 -p $PGPORT -U postgres"
echo "Stop everything with: ./scripts/demo.sh stop"
