#!/usr/bin/env bash
# test/run-workspace.sh: the workspace of an agent run (issue 11): secrets,
# files, a git repository cloned before the first turn and pushed after the
# last, artifacts and their caps, structured results, budgets, keep_sandbox,
# bad input refused at INSERT, and another role's attempts at what is not
# its own.
#
# Servers, each on a free 127.0.0.1 port and stopped at exit: a cluster with
# the extension preloaded, sandboxd, modeld (the scripted model: each ```bash
# block of a prompt is one run_command call; [[modeld: result=...]] gives the
# structured answer) and a git server (test/lib/gitserver.sh: smart HTTP,
# anonymous at /<repo>.git and password-protected at /auth/<repo>.git, the
# password being the value of the secret GIT_TOKEN).
#
# Two login roles, ws_a and ws_b (sandbox_grant_usage); the runs are ws_a's.
# Cases (CASES selects some; default all, in this order):
#   repo      a repo run (anonymous URL, push): clone on the new branch
#             run-<id> (repo_cloned event: url, branch, the server's commit),
#             a bash block edits a file with sed and adds one, the repo.diff
#             artifact (kind diff) holds both changes, the branch is pushed
#             (pushed event; agent_runs.commit_id = the branch's head on the
#             server, its parent the seeded commit, its message the first line
#             of the final answer, the server's file changed)
#   repo2     a tag with depth 1 (no push: no pushed event, no commit_id, no
#             branch on the server, the diff kept), a commit id (pushed), no
#             change with push (reported), a push to a branch the server has
#             with other commits (not overwritten, the run says so), a repo
#             run over max_tokens (reported: what it kept)
#   secret    a repo run on the /auth/ URL with repo.secret GIT_TOKEN, secrets
#             {GIT_TOKEN}, push to branch feature-<n>: a command prints the
#             sha256 of $GIT_TOKEN (= the value's), echoes the value (stored
#             as [secret:GIT_TOKEN]), greps .git/config for it (0); the value
#             is nowhere in the run's row (but the user's own repo column),
#             events, artifacts, nor in the PostgreSQL server log; the result
#             (final answer quoting a command that printed it) and an
#             artifact holding it have [secret:GIT_TOKEN]; the push
#             authenticated with it landed; a command's git ls-remote to
#             another host (port) that asks for a password is not given
#             the value by the repo's credential helper; a clone failing on a
#             URL whose path is the value has an error with git's output
#             redacted
#   files     files => {relative text, absolute base64} written before the first
#             turn (files_written {count, bytes}); the commands read them
#   instructions envs reach the commands (with a system_prompt); tools =>
#             {list_files,edit_file}: the model is offered those only
#   tools     tool calls scripted with modeld's ```tool NAME blocks, tools =>
#             {write_file,list_files,edit_file,read_file}, keep_sandbox: write_file,
#             list_files (type, size, path; depth 2 reaches a subdirectory),
#             edit_file of a unique string (read_file shows it), of a string
#             that occurs twice (error "occurs 2 times", file unchanged), of a
#             missing string ("was not found") and a missing file ("no such
#             file"), list_files of a missing directory ("no such directory"),
#             a multi-line edit, a deletion (new_string ""); each tool_result's
#             content and is_error; the kept sandbox's file (the owner's
#             sandbox_read_file_text); the same tools on paths relative to
#             /home/user; four calls in one turn (two edits of one file both
#             land); a \u0000 in a tool input becomes U+FFFD; a run without
#             run_command whose bash block is never
#             run (only the write_file before it); system_prompt reaches the
#             model after the agent's own (modeld's echo_system), a run without
#             one adds nothing
#   structured result_schema: valid (result = the JSON itself), invalid once
#             (sent back, then valid), invalid twice (failed, "the model's
#             structured result does not match result_schema")
#   budget    max_tokens small (failed "the run used N tokens, more than its
#             max_tokens (M)", llm_calls kept), max_cost_usd small (failed "the
#             run cost $X, more than its max_cost_usd ($Y)"), and cost_usd of a
#             completed run = its tokens at the model's prices
#             (sandbox_model_prices, longest prefix; a row for this test's model)
#   keep      keep_sandbox '10 minutes': sandbox_kept {sandbox_id, until}, the
#             sandboxes row running with expires_at ~ completed_at + 10 min,
#             the owner's sandbox_exec reads what the run wrote, ws_b's is
#             refused; keep_sandbox '3 seconds': the reaper kills it after
#   artifacts out/*.txt (content, size, sha256), a 2 MB file over the per-file
#             cap (1 MB: row, content NULL, cut says why), many/* matching
#             10,000 files (100 collected, left_out 9900 in the artifacts
#             event), a 100 MB file (cut, not read whole: sandboxd's
#             files_read_bytes stays far below 100 MB), 12 files of 1,000,000
#             bytes over the per-run cap (10 MB: the rest cut)
#   badinput  refused at INSERT: an unknown secret, ws_b using ws_a's secret
#             (in secrets and as repo.secret), repo URLs that are not
#             http(s)/git or hold credentials, an invalid JSON Schema, files
#             outside /home/user or with '..', artifacts globs with '..'
#   clone     a clone failure (a ref that does not exist; a repository that
#             does not exist) fails the run: "git clone failed" and git's
#             own words
#   roles     ws_b cannot create a sandbox with ws_a's secret, cannot read ws_a's
#             artifacts (RLS) nor sandbox_secrets, does not see the secret in
#             sandbox_list_secrets(); after sandbox_grant_secret it may use
#             it, after sandbox_revoke_secret no longer
#   openai    (last: the cluster switches to sandbox.llm_provider 'openai')
#             structured results through response_format json_schema: valid,
#             invalid once, invalid twice; a secret redacted in the result
#   resume    (last, alone) kill -9 of the worker while a repo run's first
#             command sleeps: the run resumes (attempt 2) in its sandbox,
#             is not cloned again (one repo_cloned), each command ran once,
#             and its branch is pushed with both changes
#
# Output: "ok - " / "not ok - " lines; exit status 1 when any check failed.
# Assumes `make install`.  Environment: CASES, RUN_TIMEOUT_S (sandbox.run_timeout,
# 120), RUN_WAIT_S (150: how long the test waits for a run to end), KEEP_TMP=1,
# WS_VERBOSE=1 (print every run's events).
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$ROOT/test/lib/sandboxd.sh"
source "$ROOT/test/lib/modeld.sh"
source "$ROOT/test/lib/pg.sh"
source "$ROOT/test/lib/gitserver.sh"

CASES=${CASES:-"repo repo2 secret files instructions tools structured budget keep artifacts badinput clone roles openai resume"}
RUN_WAIT_S=${RUN_WAIT_S:-150}
NONCE="$$-$(date +%s%N | tail -c 7)"
SECRET_VALUE="wsTok-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
SECRET_SHA=$(printf %s "$SECRET_VALUE" | sha256sum | cut -d' ' -f1)
MODEL=ws-model-priced-1

sandboxd_start --max-sandboxes 100 || exit 1
modeld_start || exit 1
gitserver_start "$SECRET_VALUE" || exit 1
gitserver_seed proj
# another host (port) answering 401 to everything under /auth/, recording the
# sha256 of each password offered: the repo's secret must never reach it
OTHER_DIR=$(mktemp -d /tmp/gitother.XXXXXX)
GITSERVER_PASSWORD="other-host-password" GITSERVER_AUTH_LOG="$OTHER_DIR/auth.log" \
    python3 "$ROOT/test/lib/gitserver.py" "$GITSERVER_DIR/repos" 0 >"$OTHER_DIR/out" 2>"$OTHER_DIR/log" &
OTHER_PID=$!
for _ in $(seq 1 100); do grep -q listening "$OTHER_DIR/out" 2>/dev/null && break; sleep 0.05; done
OTHER_URL="http://127.0.0.1:$(sed -n 's/.*:\([0-9]*\)$/\1/p' "$OTHER_DIR/out")"
touch "$OTHER_DIR/auth.log"
export TEST_DB=sandbox_workspace
pg_start "shared_preload_libraries = 'sandbox'" \
         "sandbox.database = '$TEST_DB'" \
         "sandbox.workers = 1" \
         "sandbox.max_concurrent_runs = 40" \
         "sandbox.lease_time = 10" \
         "sandbox.reaper_interval = 2" \
         "sandbox.e2b_api_key = '$SANDBOXD_API_KEY'" \
         "sandbox.e2b_api_url = '$E2B_API_URL'" \
         "sandbox.e2b_sandbox_url = '$E2B_SANDBOX_URL'" \
         "sandbox.llm_provider = 'anthropic'" \
         "sandbox.llm_api_url = '$MODELD_URL'" \
         "sandbox.llm_api_key = 'test-llm-key'" \
         "sandbox.run_timeout = ${RUN_TIMEOUT_S:-120}" || exit 1
cleanup() { pg_cleanup; modeld_stop; sandboxd_stop_all; gitserver_stop; kill "$OTHER_PID" 2>/dev/null; rm -rf "$OTHER_DIR"; return 0; }
trap cleanup EXIT
psql -X -q -d postgres -c "CREATE DATABASE $TEST_DB"
export PGDATABASE=$TEST_DB
psql -X -q -c "CREATE EXTENSION sandbox" \
     -c "CREATE ROLE ws_a LOGIN" -c "CREATE ROLE ws_b LOGIN" \
     -c "SELECT sandbox_grant_usage('ws_a'), sandbox_grant_usage('ws_b')" -o /dev/null \
     -c "INSERT INTO sandbox_model_prices (model, input_per_mtok, output_per_mtok, cache_write_per_mtok, cache_read_per_mtok)
         VALUES ('ws-model-priced', 3, 15, 3.75, 0.30)" || exit 1

source "$ROOT/test/lib/checks.sh"   # status, ok, notok, check, check_re, err_of, expect_err
# here a statement's error is part of what it answers
q() { psql -X -At -q -c "$1" 2>&1; }
qa() { PGUSER=ws_a psql -X -At -q -c "$1" 2>&1; }
qb() { PGUSER=ws_b psql -X -At -q -c "$1" 2>&1; }
# enqueue "(COLUMNS) VALUES (VALUES)": INSERT as ws_a, prints the run id (or
# the error).  When ws_a cannot INSERT at all (checked first, reported), the
# runs are inserted by the superuser with owner ws_a, so the other cases
# still test the worker.
INSERT_AS_SUPER=""
enqueue() {
    if [ -z "$INSERT_AS_SUPER" ]; then qa "INSERT INTO agent_runs $1 RETURNING id"; return; fi
    local s=${1/#(/(owner, } v="VALUES ('ws_a', "
    q "INSERT INTO agent_runs ${s/ VALUES (/ $v} RETURNING id"
}
ev() { q "SELECT data FROM agent_run_events WHERE run_id = '$1' AND kind = '$2' ORDER BY seq LIMIT 1"; }
evf() { q "SELECT data->>'$3' FROM agent_run_events WHERE run_id = '$1' AND kind = '$2' ORDER BY seq LIMIT 1"; }
col() { q "SELECT $2 FROM agent_runs WHERE id = '$1'"; }
wait_end() {
    local s="" i
    for i in $(seq 1 $((RUN_WAIT_S * 10))); do
        s=$(q "SELECT status FROM agent_runs WHERE id = '$1'")
        case "$s" in completed|failed|cancelled) echo "$s"; return;; esac
        sleep 0.1
    done
    echo "timeout:$s"
}
show_events() {
    echo "    events of run $1 ($(col "$1" "status"): $(col "$1" "left(error, 300)")):"
    q "SELECT seq, kind, left(data::text, 300) FROM agent_run_events WHERE run_id = '$1' ORDER BY seq" | sed 's/^/    | /'
}
# ended NAME RUN WANT: the run ended with status WANT (else its events are shown)
ended() {
    local st
    st=$(wait_end "$2")
    if [ "$st" = "$3" ]; then ok "$1: $3"; return 0; fi
    notok "$1: status $st, want $3; error: $(col "$2" "left(error, 400)")"
    show_events "$2"
    return 1
}
is_uuid() { [[ "$1" =~ ^[0-9a-f-]{36}$ ]]; }
enq_ok() { # NAME ID: the INSERT gave an id
    if is_uuid "$2"; then return 0; fi
    notok "$1: INSERT failed: ${2:0:300}"; return 1
}
has_case() { [[ " $CASES " == *" $1 "* ]]; }
# the run's artifacts: art RUN EXPR (by relative path), arta RUN EXPR, artp RUN REL EXPR
art() { q "SELECT $2 FROM (SELECT regexp_replace(path, '^/home/user/', '') AS rel, * FROM agent_run_artifacts WHERE run_id = '$1') a ORDER BY rel"; }
arta() { q "SELECT $2 FROM agent_run_artifacts WHERE run_id = '$1'"; }
artp() { q "SELECT $3 FROM agent_run_artifacts WHERE run_id = '$1' AND regexp_replace(path, '^/home/user/', '') = '$2'"; }
files_read_bytes() {
    sandboxd_admin GET /admin/stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["counters"].get("files_read_bytes", 0))'
}

# the secret, owned by ws_a (the value through a psql variable, never in argv of SQL text files)
echo "SELECT sandbox_set_secret('GIT_TOKEN', :'v');" | PGUSER=ws_a psql -X -q -v v="$SECRET_VALUE" >/dev/null 2>&1 ||
    notok "sandbox_set_secret('GIT_TOKEN', ...) as ws_a: $(echo "SELECT sandbox_set_secret('GIT_TOKEN', :'v');" | PGUSER=ws_a psql -X -q -v v=xxxxxxxxxxxxxxxx 2>&1 | head -2)"
probe=$(qa "INSERT INTO agent_runs (prompt, run_after) VALUES ('probe $NONCE', now() + interval '1 hour') RETURNING id")
if is_uuid "$probe"; then
    ok "ws_a (not a superuser) can INSERT a run"
    qa "SELECT sandbox_cancel_run('$probe')" >/dev/null
else
    notok "ws_a (not a superuser) can INSERT a run: ${probe:0:300} (the other runs are inserted by the superuser with owner ws_a)"
    INSERT_AS_SUPER=1
fi
READ0=$(files_read_bytes)
SEED_COMMIT=$(gitserver_rev proj main)
T0=$(date +%s)

# --- enqueue every run first (they run concurrently) -------------------------
declare -A RUN=()
PROMPT_REPO="Improve the greeting ($NONCE).
\`\`\`bash
cd /home/user/repo && sed -i 's/hello, /hi there, /' src/app.py && echo 'notes of run' > NOTES.md && git status --short
\`\`\`
"
has_case repo && RUN[repo]=$(enqueue "(prompt, repo) VALUES (\$p\$$PROMPT_REPO\$p\$,
    '{\"url\": \"$GITSERVER_URL/proj.git\", \"push\": true}')")

SECRET_BRANCH="feature-$NONCE"
PROMPT_SECRET="Use the token ($NONCE).
\`\`\`bash
printf %s \"\$GIT_TOKEN\" | sha256sum | cut -d' ' -f1
\`\`\`
\`\`\`bash
echo \"the token is \$GIT_TOKEN\"
\`\`\`
\`\`\`bash
grep -c -- \"\$GIT_TOKEN\" /home/user/repo/.git/config; cd /home/user/repo && echo 'secured' >> README.md && git diff --stat
\`\`\`
\`\`\`bash
cd /home/user/repo && GIT_TERMINAL_PROMPT=0 git ls-remote $OTHER_URL/auth/proj.git >/dev/null 2>&1; echo \"other host: exit \$?\"
\`\`\`
\`\`\`bash
echo \"\$GIT_TOKEN\" > /home/user/token-copy.txt; echo \"finally \$GIT_TOKEN\"
\`\`\`
"
has_case secret && RUN[secret]=$(enqueue "(prompt, secrets, artifacts, repo) VALUES (\$p\$$PROMPT_SECRET\$p\$, '{GIT_TOKEN}', '{token-copy.txt}',
    '{\"url\": \"$GITSERVER_URL/auth/proj.git\", \"secret\": \"GIT_TOKEN\", \"push\": true, \"branch\": \"$SECRET_BRANCH\"}')")
# a clone whose failure (git's output) holds the value: the URL's path is the value
has_case secret && RUN[secret_error]=$(enqueue "(prompt, secrets, repo) VALUES (\$p\$Clone a repo named like the token ($NONCE).
\`\`\`bash
echo never
\`\`\`
\$p\$, '{GIT_TOKEN}', '{\"url\": \"$GITSERVER_URL/$SECRET_VALUE.git\"}')")

has_case files && RUN[files]=$(enqueue "(prompt, files) VALUES (\$p\$Read the inputs ($NONCE).
\`\`\`bash
cat /home/user/notes/in.txt; echo; od -An -tx1 /home/user/data/b64.bin
\`\`\`
\$p\$, '{\"notes/in.txt\": \"hello files\", \"/home/user/data/b64.bin\": {\"base64\": \"AAEC/w==\"}}')")

SCHEMA='{"type": "object", "required": ["answer"], "properties": {"answer": {"type": "integer"}, "note": {"type": "string"}}}'
if has_case structured; then
    for k in valid invalid1 invalid2; do
        extra=""
        [ $k = invalid1 ] && extra="[[modeld: result_invalid_first=1]]"
        [ $k = invalid2 ] && extra="[[modeld: result_invalid_first=2]]"
        RUN[struct_$k]=$(enqueue "(prompt, result_schema) VALUES (\$p\$Answer ($NONCE $k).
\`\`\`bash
echo 42
\`\`\`
[[modeld: result={\"answer\": 42, \"note\": \"six times seven\"}]] $extra
\$p\$, '$SCHEMA')")
    done
fi

if has_case budget; then
    BUDGET_PROMPT="Three steps ($NONCE).
\`\`\`bash
echo one
\`\`\`
\`\`\`bash
echo two
\`\`\`
\`\`\`bash
echo three
\`\`\`
"
    RUN[budget_tokens]=$(enqueue "(prompt, max_tokens) VALUES (\$p\$$BUDGET_PROMPT tokens\$p\$, 300)")
    RUN[budget_cost]=$(enqueue "(prompt, model, max_cost_usd) VALUES (\$p\$$BUDGET_PROMPT cost\$p\$, '$MODEL', 0.0005)")
    RUN[budget_ok]=$(enqueue "(prompt, model) VALUES (\$p\$$BUDGET_PROMPT priced\$p\$, '$MODEL')")
fi

if has_case keep; then
    RUN[keep]=$(enqueue "(prompt, keep_sandbox) VALUES (\$p\$Leave a file ($NONCE).
\`\`\`bash
echo kept-$NONCE > /home/user/kept.txt
\`\`\`
\$p\$, '10 minutes')")
    RUN[keep_short]=$(enqueue "(prompt, keep_sandbox) VALUES (\$p\$Leave a file briefly ($NONCE).
\`\`\`bash
echo brief > /home/user/kept.txt
\`\`\`
\$p\$, '3 seconds')")
fi

if has_case artifacts; then
    RUN[art_small]=$(enqueue "(prompt, artifacts) VALUES (\$p\$Make outputs ($NONCE).
\`\`\`bash
mkdir -p /home/user/out && cd /home/user && echo alpha > out/a.txt && printf 'beta\n\000\001' > out/b.txt && echo no > out/c.log && head -c 2097152 /dev/urandom > big.bin && ls out
\`\`\`
\$p\$, '{out/*.txt,big.bin,out/*.none}')")
    RUN[art_many]=$(enqueue "(prompt, artifacts) VALUES (\$p\$Make many files ($NONCE).
\`\`\`bash
mkdir -p /home/user/many && cd /home/user/many && seq -f 'f%05g.txt' 1 10000 | xargs touch && ls | wc -l
\`\`\`
\$p\$, '{many/**}')")
    RUN[art_huge]=$(enqueue "(prompt, artifacts) VALUES (\$p\$Make a huge file ($NONCE).
\`\`\`bash
cd /home/user && (fallocate -l 100M huge.bin 2>/dev/null || head -c 104857600 /dev/zero > huge.bin) && stat -c %s huge.bin
\`\`\`
\$p\$, '{huge.bin}')")
    RUN[art_run]=$(enqueue "(prompt, artifacts) VALUES (\$p\$Make twelve parts ($NONCE).
\`\`\`bash
mkdir -p /home/user/parts && cd /home/user/parts && for i in \$(seq -w 1 12); do head -c 1000000 /dev/urandom > part\$i.bin; done && ls | wc -l
\`\`\`
\$p\$, '{parts/*.bin}')")
fi

if has_case clone; then
    RUN[clone_ref]=$(enqueue "(prompt, repo) VALUES (\$p\$Clone ($NONCE).
\`\`\`bash
echo never
\`\`\`
\$p\$, '{\"url\": \"$GITSERVER_URL/proj.git\", \"ref\": \"no-such-ref-$NONCE\"}')")
    RUN[clone_repo]=$(enqueue "(prompt, repo) VALUES (\$p\$Clone a missing repo ($NONCE).
\`\`\`bash
echo never
\`\`\`
\$p\$, '{\"url\": \"$GITSERVER_URL/no-such-repo.git\"}')")
fi

if has_case repo2; then
    gitserver_git proj tag v1 main
    # a branch already on the server, with a commit the run's branch lacks
    tmpc=$(mktemp -d /tmp/wsclone.XXXXXX)
    git clone -q "$GITSERVER_URL/proj.git" "$tmpc/c" && git -C "$tmpc/c" checkout -q -b "taken-$NONCE" &&
        echo other > "$tmpc/c/OTHER.md" && git -C "$tmpc/c" add -A &&
        git -C "$tmpc/c" -c user.name=t -c user.email=t@t commit -q -m "someone else's" &&
        git -C "$tmpc/c" push -q origin "taken-$NONCE"
    rm -rf "$tmpc"
    TAKEN_COMMIT=$(gitserver_rev proj "taken-$NONCE")
    EDIT='```bash
cd /home/user/repo && echo more >> README.md && git log --oneline | wc -l
```'
    RUN[repo_tag]=$(enqueue "(prompt, repo) VALUES (\$p\$At a tag ($NONCE).
$EDIT
\$p\$, '{\"url\": \"$GITSERVER_URL/proj.git\", \"ref\": \"v1\", \"depth\": 1}')")
    RUN[repo_sha]=$(enqueue "(prompt, repo) VALUES (\$p\$At a commit ($NONCE).
$EDIT
\$p\$, '{\"url\": \"$GITSERVER_URL/proj.git\", \"ref\": \"$SEED_COMMIT\", \"branch\": \"from-sha-$NONCE\", \"push\": true}')")
    RUN[repo_nochange]=$(enqueue "(prompt, repo) VALUES (\$p\$Change nothing ($NONCE).
\`\`\`bash
cd /home/user/repo && git status --short | wc -l
\`\`\`
\$p\$, '{\"url\": \"$GITSERVER_URL/proj.git\", \"branch\": \"nochange-$NONCE\", \"push\": true}')")
    RUN[repo_taken]=$(enqueue "(prompt, repo) VALUES (\$p\$Push over a taken branch ($NONCE).
$EDIT
\$p\$, '{\"url\": \"$GITSERVER_URL/proj.git\", \"branch\": \"taken-$NONCE\", \"push\": true}')")
    RUN[repo_budget]=$(enqueue "(prompt, repo, max_tokens) VALUES (\$p\$Over budget in a repo ($NONCE).
$EDIT
\`\`\`bash
echo two
\`\`\`
\`\`\`bash
echo three
\`\`\`
\$p\$, '{\"url\": \"$GITSERVER_URL/proj.git\", \"push\": true, \"branch\": \"budget-$NONCE\"}', 2500)")
fi
if has_case instructions; then
    RUN[ins_envs]=$(enqueue "(prompt, envs, system_prompt) VALUES (\$p\$Show the environment ($NONCE).
\`\`\`bash
echo \"FOO=\$FOO BAR=\$BAR\"
\`\`\`
\$p\$, '{\"FOO\": \"foo value\", \"BAR\": \"b\"}', 'Always answer in English.')")
    RUN[ins_tools]=$(enqueue "(prompt, tools) VALUES (\$p\$Only the new tools ($NONCE).
\`\`\`bash
echo never
\`\`\`
\$p\$, '{list_files,edit_file}')")
fi

# tool blocks: a quoted heredoc (the JSON's \n stay escapes), @NONCE@ filled in
TOOLS_DIR=/home/user/work
PROMPT_TOOLS=$(cat <<'EOF'
Use the file tools (@NONCE@).
```tool write_file
{"path": "/home/user/work/notes.txt", "content": "alpha\nbeta\nbeta\ngamma\n"}
```
```tool write_file
{"path": "/home/user/work/sub/deep.txt", "content": "deep\n"}
```
```tool list_files
{"path": "/home/user/work"}
```
```tool list_files
{"path": "/home/user/work", "depth": 2}
```
```tool edit_file
{"path": "/home/user/work/notes.txt", "old_string": "alpha", "new_string": "ALPHA"}
```
```tool read_file
{"path": "/home/user/work/notes.txt"}
```
```tool edit_file
{"path": "/home/user/work/notes.txt", "old_string": "beta", "new_string": "BETA"}
```
```tool edit_file
{"path": "/home/user/work/notes.txt", "old_string": "delta", "new_string": "x"}
```
```tool list_files
{"path": "/home/user/no-such-dir-@NONCE@"}
```
```tool edit_file
{"path": "/home/user/work/missing.txt", "old_string": "a", "new_string": "b"}
```
```tool read_file
{"path": "/home/user/work/notes.txt"}
```
```tool edit_file
{"path": "/home/user/work/notes.txt", "old_string": "beta\nbeta", "new_string": "beta, twice"}
```
```tool edit_file
{"path": "/home/user/work/notes.txt", "old_string": "gamma\n", "new_string": ""}
```
```tool read_file
{"path": "/home/user/work/notes.txt"}
```
EOF
)
PROMPT_TOOLS=${PROMPT_TOOLS//@NONCE@/$NONCE}
PROMPT_TOOLS_REL=$(cat <<'EOF'
Relative paths (@NONCE@).
```tool write_file
{"path": "rel/r.txt", "content": "one two\n"}
```
```tool list_files
{"path": "rel"}
```
```tool edit_file
{"path": "rel/r.txt", "old_string": "one", "new_string": "ünï ✓"}
```
```tool read_file
{"path": "rel/r.txt"}
```
```tool read_file
{"path": "/home/user/rel/r.txt"}
```
EOF
)
PROMPT_TOOLS_REL=${PROMPT_TOOLS_REL//@NONCE@/$NONCE}
PROMPT_TOOLS_NOCMD=$(cat <<'EOF'
No commands (@NONCE@).
```tool write_file
{"path": "/home/user/before.txt", "content": "written\n"}
```
```bash
echo never > /home/user/never.txt
```
```tool read_file
{"path": "/home/user/before.txt"}
```
EOF
)
PROMPT_TOOLS_NOCMD=${PROMPT_TOOLS_NOCMD//@NONCE@/$NONCE}
# all four calls in one model turn (modeld's parallel): run in order, one at a time
PROMPT_TOOLS_PAR=$(cat <<'EOF'
One turn, two edits of one file (@NONCE@). [[modeld: parallel]]
```tool write_file
{"path": "/home/user/par.txt", "content": "first second\n"}
```
```tool edit_file
{"path": "/home/user/par.txt", "old_string": "first", "new_string": "1st"}
```
```tool edit_file
{"path": "/home/user/par.txt", "old_string": "second", "new_string": "2nd"}
```
```tool read_file
{"path": "/home/user/par.txt"}
```
EOF
)
PROMPT_TOOLS_PAR=${PROMPT_TOOLS_PAR//@NONCE@/$NONCE}
SYS_MARK="Always answer in plain English (ws-sys-$NONCE)."
if has_case tools; then
    RUN[tools]=$(enqueue "(prompt, tools, keep_sandbox) VALUES (\$p\$$PROMPT_TOOLS\$p\$,
        '{write_file,list_files,edit_file,read_file}', '5 minutes')")
    RUN[tools_rel]=$(enqueue "(prompt, tools) VALUES (\$p\$$PROMPT_TOOLS_REL\$p\$, '{write_file,list_files,edit_file,read_file}')")
    RUN[tools_par]=$(enqueue "(prompt, tools) VALUES (\$p\$$PROMPT_TOOLS_PAR\$p\$, '{write_file,edit_file,read_file}')")
    # a tool input holding \u0000 (which jsonb cannot store): the worker makes it U+FFFD
    RUN[tools_nul]=$(enqueue "(prompt, tools) VALUES (\$p\$A NUL in a tool input ($NONCE).
\`\`\`tool write_file
{\"path\": \"/home/user/nul.txt\", \"content\": \"a\\u0000b\"}
\`\`\`
\$p\$, '{write_file}')")
    RUN[tools_nocmd]=$(enqueue "(prompt, tools) VALUES (\$p\$$PROMPT_TOOLS_NOCMD\$p\$, '{write_file,read_file}')")
    RUN[tools_sys]=$(enqueue "(prompt, system_prompt) VALUES (\$p\$Show the system prompt ($NONCE).
\`\`\`bash
echo sys
\`\`\`
[[modeld: echo_system]]
\$p\$, '$SYS_MARK')")
    RUN[tools_nosys]=$(enqueue "(prompt) VALUES (\$p\$No system prompt of mine ($NONCE).
[[modeld: echo_system on=exec]]
\$p\$)")
fi

# --- case: repo ---------------------------------------------------------------
if has_case repo && enq_ok "repo run" "${RUN[repo]}"; then
    r=${RUN[repo]}
    if ended "repo run" "$r" completed; then
        branch="run-$r"
        check "repo: repo_cloned.branch" "$(evf "$r" repo_cloned branch)" "$branch"
        check "repo: repo_cloned.commit is the server's main" "$(evf "$r" repo_cloned commit)" "$SEED_COMMIT"
        check "repo: repo_cloned.url" "$(evf "$r" repo_cloned url)" "$GITSERVER_URL/proj.git"
        diff=$(q "SELECT convert_from(content, 'UTF8') FROM agent_run_artifacts WHERE run_id = '$r' AND path = 'repo.diff'")
        check "repo: repo.diff is kind diff" "$(q "SELECT kind FROM agent_run_artifacts WHERE run_id = '$r' AND path = 'repo.diff'")" diff
        check_re "repo: the diff has the sed change" "$diff" $'-    return "hello, " \\+ name\n\\+    return "hi there, " \\+ name'
        check_re "repo: the diff has the untracked file" "$diff" $'NOTES.md.*\n.*\\+notes of run'
        commit=$(col "$r" commit_id)
        server=$(gitserver_rev proj "$branch")
        check_re "repo: agent_runs.commit_id is a commit id" "$commit" '^[0-9a-f]{40}$'
        check "repo: the branch on the server is at commit_id" "$server" "$commit"
        check "repo: pushed event {branch, commit}" "$(evf "$r" pushed branch) $(evf "$r" pushed commit)" "$branch $commit"
        if [ -n "$server" ]; then
            check "repo: the pushed commit's parent is the seeded commit" "$(gitserver_git proj rev-parse "$branch^")" "$SEED_COMMIT"
            check "repo: the commit message is the final answer's first line" "$(gitserver_git proj log -1 --format=%s "$branch")" "Done. The last tool returned:"
            check_re "repo: src/app.py on the server's branch" "$(gitserver_show proj "$branch:src/app.py")" 'hi there, '
            check "repo: NOTES.md on the server's branch" "$(gitserver_show proj "$branch:NOTES.md" 2>&1)" "notes of run"
            check "repo: main on the server is unchanged" "$(gitserver_rev proj main)" "$SEED_COMMIT"
        fi
    fi
fi

# --- case: repo2 --------------------------------------------------------------
if has_case repo2; then
    r=${RUN[repo_tag]}
    if enq_ok "repo at a tag" "$r" && ended "repo at a tag, depth 1" "$r" completed; then
        check "repo tag: repo_cloned {ref, commit}" "$(evf "$r" repo_cloned ref) $(evf "$r" repo_cloned commit)" "v1 $SEED_COMMIT"
        check_re "repo tag: depth 1 (one commit in the log)" "$(q "SELECT data->>'stdout' FROM agent_run_events WHERE run_id = '$r' AND kind = 'tool_result'")" '^1$'
        check "repo tag: no push asked: no pushed event, no commit_id" "$(q "SELECT count(*) FROM agent_run_events WHERE run_id = '$r' AND kind = 'pushed'"):$(col "$r" commit_id)" "0:"
        check "repo tag: no branch run-<id> on the server" "$(gitserver_rev proj "run-$r")" ""
        check_re "repo tag: the diff artifact is still kept" "$(q "SELECT convert_from(content, 'UTF8') FROM agent_run_artifacts WHERE run_id = '$r' AND path = 'repo.diff'")" '\+more'
    fi
    r=${RUN[repo_sha]}
    if enq_ok "repo at a commit id" "$r" && ended "repo at a commit id, pushed" "$r" completed; then
        check "repo sha: repo_cloned.commit" "$(evf "$r" repo_cloned commit)" "$SEED_COMMIT"
        check "repo sha: pushed to from-sha-$NONCE at commit_id" "$(gitserver_rev proj "from-sha-$NONCE")" "$(col "$r" commit_id)"
    fi
    r=${RUN[repo_nochange]}
    if enq_ok "repo without changes" "$r"; then
        st=$(wait_end "$r")
        echo "# repo without changes, push true: status $st, commit_id '$(col "$r" commit_id)', pushed event $(ev "$r" pushed), server branch '$(gitserver_rev proj "nochange-$NONCE")' (seed $SEED_COMMIT), diff artifact $(q "SELECT size FROM agent_run_artifacts WHERE run_id = '$r' AND path = 'repo.diff'") bytes, error '$(col "$r" error)'"
        check "repo without changes: completed" "$st" completed
        check "repo without changes: the diff artifact is empty" "$(q "SELECT size FROM agent_run_artifacts WHERE run_id = '$r' AND path = 'repo.diff'")" 0
    fi
    r=${RUN[repo_taken]}
    if enq_ok "repo push over a taken branch" "$r"; then
        st=$(wait_end "$r")
        echo "# push to a branch the server has with other commits: status $st, error '$(col "$r" "left(error, 300)")', pushed event $(ev "$r" pushed), commit_id '$(col "$r" commit_id)'"
        check "repo taken: the server's branch was not overwritten" "$(gitserver_rev proj "taken-$NONCE")" "$TAKEN_COMMIT"
        check "repo taken: no commit_id claims a push that did not land" "$( [ -z "$(col "$r" commit_id)" ] || [ "$(col "$r" commit_id)" = "$(gitserver_rev proj "taken-$NONCE")" ] && echo yes || echo no)" yes
        check_re "repo taken: the run says the push was refused" "$st $(col "$r" error) $(q "SELECT string_agg(data::text, ' ') FROM agent_run_events WHERE run_id = '$r' AND kind IN ('error', 'push_failed', 'pushed')")" '(rejected|non-fast-forward|fetch first|failed to push)'
    fi
    r=${RUN[repo_budget]}
    if enq_ok "repo over budget" "$r"; then
        st=$(wait_end "$r")
        echo "# repo run over max_tokens: status $st, error '$(col "$r" "left(error, 200)")', tool results $(q "SELECT count(*) FROM agent_run_events WHERE run_id = '$r' AND kind = 'tool_result'"), artifacts $(arta "$r" "string_agg(path, ',')"), pushed $(ev "$r" pushed), branch on server '$(gitserver_rev proj "budget-$NONCE")'"
        check "repo over budget: failed" "$st" failed
        check_re "repo over budget: the budget error" "$(col "$r" error)" 'more than its max_tokens \(2500\)'
    fi
fi

# --- case: instructions ---------------------------------------------------------
if has_case instructions; then
    r=${RUN[ins_envs]}
    if enq_ok "envs run" "$r" && ended "envs and system_prompt run" "$r" completed; then
        check "instructions: envs reach the command" "$(q "SELECT data->>'stdout' FROM agent_run_events WHERE run_id = '$r' AND kind = 'tool_result'")" "FOO=foo value BAR=b"
    fi
    r=${RUN[ins_tools]}
    if enq_ok "tools run" "$r" && ended "tools => {list_files,edit_file}" "$r" completed; then
        check_re "instructions: only the run's tools are declared (modeld's answer lists them)" "$(col "$r" "result->>'text'")" 'needs the tool "run_command", which this request does not declare \(declared: list_files, edit_file\)'
    fi
fi

# --- case: tools ----------------------------------------------------------------
# trn RUN N FIELD: FIELD of the run's N-th tool_result (by seq)
trn() { q "SELECT data->>'$3' FROM agent_run_events WHERE run_id = '$1' AND kind = 'tool_result' ORDER BY seq OFFSET $(($2 - 1)) LIMIT 1"; }
# tr_check NAME RUN N IS_ERROR CONTENT-REGEX: the N-th tool_result
tr_check() {
    local c e
    c=$(trn "$2" "$3" content); e=$(trn "$2" "$3" is_error)
    if [ "$e" = "$4" ] && [[ "$c" =~ $5 ]]; then ok "$1"
    else notok "$1: tool_result $3 (name $(trn "$2" "$3" name)): is_error '$e' (want $4), content '${c:0:400}', want /$5/"; fi
}
if has_case tools; then
    r=${RUN[tools]}
    N='/home/user/work/notes.txt'
    if enq_ok "tools run" "$r" && ended "tools run (write_file, list_files, edit_file, read_file)" "$r" completed; then
        check "tools: the calls, in order" "$(q "SELECT string_agg(data->>'name', ',' ORDER BY seq) FROM agent_run_events WHERE run_id = '$r' AND kind = 'tool_call'")" \
            "write_file,write_file,list_files,list_files,edit_file,read_file,edit_file,edit_file,list_files,edit_file,read_file,edit_file,edit_file,read_file"
        check "tools: the edit_file input reached the tool as scripted" "$(q "SELECT data->'input' = '{\"path\": \"$N\", \"old_string\": \"beta\\nbeta\", \"new_string\": \"beta, twice\"}'::jsonb FROM agent_run_events WHERE run_id = '$r' AND kind = 'tool_call' ORDER BY seq OFFSET 11 LIMIT 1")" t
        check "tools: 14 tool results" "$(q "SELECT count(*) FROM agent_run_events WHERE run_id = '$r' AND kind = 'tool_result'")" 14
        tr_check "tools: write_file says what it wrote" "$r" 1 false "^wrote 22 bytes to $N\$"
        check "tools: write_file's event {path, bytes}" "$(trn "$r" 1 path):$(trn "$r" 1 bytes)" "$N:22"
        tr_check "tools: list_files lists the file with its size" "$r" 3 false $'(^|\n)file\t22\t/home/user/work/notes\\.txt(\n|$)'
        tr_check "tools: list_files lists the subdirectory as a dir" "$r" 3 false $'(^|\n)dir\t[0-9]+\t/home/user/work/sub(\n|$)'
        check "tools: list_files depth 1: two entries (not sub/deep.txt)" "$(trn "$r" 3 entries):$(trn "$r" 3 content | grep -c deep.txt)" "2:0"
        tr_check "tools: list_files depth 2 reaches sub/deep.txt" "$r" 4 false $'(^|\n)file\t5\t/home/user/work/sub/deep\\.txt(\n|$)'
        tr_check "tools: edit_file of a unique string" "$r" 5 false "^replaced 1 occurrence in $N \\(22 bytes now\\)\$"
        check "tools: edit_file's event {path, bytes}" "$(trn "$r" 5 path):$(trn "$r" 5 bytes)" "$N:22"
        check "tools: read_file shows the edit" "$(trn "$r" 6 content)" $'ALPHA\nbeta\nbeta\ngamma'
        check "tools: read_file's event bytes" "$(trn "$r" 6 bytes)" 22
        tr_check "tools: edit_file of a string that occurs twice is an error saying so" "$r" 7 true "^error: old_string occurs 2 times in $N; include more of the text around it so that it is unique\$"
        check "tools: the error's event has it too" "$(trn "$r" 7 error)" "old_string occurs 2 times in $N; include more of the text around it so that it is unique"
        tr_check "tools: edit_file of a missing string: was not found" "$r" 8 true "^error: old_string was not found in $N\$"
        tr_check "tools: list_files of a missing directory: no such directory" "$r" 9 true "^error: no such directory: /home/user/no-such-dir-$NONCE\$"
        tr_check "tools: edit_file of a missing file: no such file" "$r" 10 true "^error: no such file: /home/user/work/missing\\.txt\$"
        check "tools: the failed edits left the file unchanged" "$(trn "$r" 11 content)" $'ALPHA\nbeta\nbeta\ngamma'
        tr_check "tools: a multi-line old_string, unique, is replaced" "$r" 12 false "^replaced 1 occurrence in $N \\(24 bytes now\\)\$"
        tr_check "tools: new_string \"\" deletes" "$r" 13 false "^replaced 1 occurrence in $N \\(18 bytes now\\)\$"
        check "tools: the last read_file" "$(trn "$r" 14 content)" $'ALPHA\nbeta, twice'
        check "tools: the final answer quotes it" "$(col "$r" "result->>'text'")" $'Done. The last tool returned:\nALPHA\nbeta, twice'
        check "tools: the last read_file's content exactly (its final newline too)" "$(q "SELECT data->>'content' = E'ALPHA\\nbeta, twice\\n' FROM agent_run_events WHERE run_id = '$r' AND kind = 'tool_result' ORDER BY seq OFFSET 13 LIMIT 1")" t
        sb=$(col "$r" sandbox_id)
        if [ -n "$sb" ] && [ "$(q "SELECT state FROM sandboxes WHERE sandbox_id = '$sb'")" = running ]; then
            check "tools: the kept sandbox's file (the owner's sandbox_read_file_text)" "$(qa "SELECT encode(convert_to(sandbox_read_file_text('$sb', '$N'), 'UTF8'), 'hex')")" "$(printf 'ALPHA\nbeta, twice\n' | od -An -tx1 | tr -d ' \n')"
            check "tools: the kept sandbox's sub/deep.txt" "$(qa "SELECT sandbox_read_file_text('$sb', '/home/user/work/sub/deep.txt')")" "deep"
            qa "SELECT sandbox_kill('$sb')" >/dev/null
        else
            notok "tools: keep_sandbox kept no running sandbox ('$sb')"
        fi
    fi
    r=${RUN[tools_rel]}
    if enq_ok "tools run, relative paths" "$r" && ended "tools run, relative paths" "$r" completed; then
        tr_check "tools rel: write_file rel/r.txt" "$r" 1 false '^wrote 8 bytes to rel/r\.txt$'
        tr_check "tools rel: list_files rel lists /home/user/rel/r.txt" "$r" 2 false $'(^|\n)file\t8\t/home/user/rel/r\\.txt(\n|$)'
        tr_check "tools rel: edit_file rel/r.txt (UTF-8 new_string)" "$r" 3 false '^replaced 1 occurrence in rel/r\.txt \(14 bytes now\)$'
        check "tools rel: read_file rel/r.txt" "$(trn "$r" 4 content)" "ünï ✓ two"
        check "tools rel: the same file by its absolute path" "$(trn "$r" 5 content)" "ünï ✓ two"
    fi
    r=${RUN[tools_par]}
    if enq_ok "tools in one turn" "$r" && ended "four tool calls in one turn (parallel)" "$r" completed; then
        check "tools par: one model turn asked for all four" "$(q "SELECT data->>'tool_calls' FROM agent_run_events WHERE run_id = '$r' AND kind = 'llm_response' AND data->>'purpose' = 'execute' ORDER BY seq LIMIT 1")" '["write_file", "edit_file", "edit_file", "read_file"]'
        check "tools par: the results in order" "$(q "SELECT string_agg((data->>'name') || ':' || (data->>'is_error'), ',' ORDER BY seq) FROM agent_run_events WHERE run_id = '$r' AND kind = 'tool_result'")" "write_file:false,edit_file:false,edit_file:false,read_file:false"
        check "tools par: both edits landed (one at a time)" "$(trn "$r" 4 content)" "1st 2nd"
    fi
    r=${RUN[tools_nul]}
    if enq_ok "tools NUL run" "$r" && ended "a tool input with \\u0000" "$r" completed; then
        check "tools nul: the tool_call's content has U+FFFD for the NUL" "$(q "SELECT data->'input'->>'content' = E'a\\uFFFDb' FROM agent_run_events WHERE run_id = '$r' AND kind = 'tool_call'")" t
        tr_check "tools nul: the file got the 5 bytes of a, U+FFFD, b" "$r" 1 false '^wrote 5 bytes to /home/user/nul\.txt$'
    fi
    r=${RUN[tools_nocmd]}
    if enq_ok "tools without run_command" "$r" && ended "tools => {write_file,read_file} with a bash block" "$r" completed; then
        check "tools nocmd: only the write_file before the bash block ran" "$(q "SELECT string_agg(data->>'name', ',' ORDER BY seq) FROM agent_run_events WHERE run_id = '$r' AND kind = 'tool_call'")" write_file
        check "tools nocmd: the model was not given run_command (modeld's answer)" "$(col "$r" "result->>'text'")" \
            'I cannot continue: step 2 needs the tool "run_command", which this request does not declare (declared: write_file, read_file).'
    fi
    r=${RUN[tools_sys]}
    if enq_ok "system_prompt run" "$r" && ended "system_prompt run (echo_system)" "$r" completed; then
        t=$(col "$r" "result->>'text'")
        check_re "tools sys: the final answer quotes the command" "$t" $'^Done\\. The last tool returned:\nexit_code: 0\n--- stdout ---\nsys\n'
        check_re "tools sys: the model's system prompt is the agent's, then the run's system_prompt" "$t" \
            $'\n\nSystem prompt:\nYou are an agent that carries out a task in an isolated Linux sandbox[^\n]*\n\n'"Always answer in plain English \\(ws-sys-$NONCE\\)\\.\$"
        p=$(col "$r" plan)
        echo "# system_prompt and the planning call: the plan's echoed system prompt $( [[ "$p" == *"ws-sys-$NONCE"* ]] && echo has || echo lacks) the run's system_prompt (plan: $(echo "$p" | tr '\n' ' ' | cut -c1-220))"
    fi
    r=${RUN[tools_nosys]}
    if enq_ok "run without system_prompt" "$r" && ended "run without system_prompt (echo_system on=exec)" "$r" completed; then
        check_re "tools nosys: the system prompt is the agent's alone" "$(col "$r" "result->>'text'")" \
            $'\n\nSystem prompt:\nYou are an agent that carries out a task in an isolated Linux sandbox[^\n]*without calling a tool\\.$'
    fi
fi

# --- case: secret -------------------------------------------------------------
if has_case secret && enq_ok "secret run" "${RUN[secret]}"; then
    r=${RUN[secret]}
    ended "secret run" "$r" completed
    outs=$(q "SELECT data->>'stdout' FROM agent_run_events WHERE run_id = '$r' AND kind = 'tool_result' ORDER BY seq")
    check_re "secret: the command saw the value (its sha256 printed)" "$outs" "$SECRET_SHA"
    check_re "secret: the echoed value is stored as [secret:GIT_TOKEN]" "$outs" 'the token is \[secret:GIT_TOKEN\]'
    check_re "secret: .git/config does not hold the value" "$outs" $'(^|\n)0\n'
    check "secret: not in agent_run_events" "$(q "SELECT count(*) FROM agent_run_events WHERE run_id = '$r' AND strpos(data::text, '$SECRET_VALUE') > 0")" 0
    check "secret: not in any event of any run" "$(q "SELECT count(*) FROM agent_run_events WHERE strpos(data::text, '$SECRET_VALUE') > 0")" 0
    check "secret: not in agent_runs (any column the extension writes, any run; the user's own repo column aside)" "$(q "SELECT count(*) FROM agent_runs r WHERE strpos((to_jsonb(r) - 'repo')::text, '$SECRET_VALUE') > 0")" 0
    check_re "secret: the result (the final answer) has [secret:GIT_TOKEN]" "$(col "$r" "result::text")" 'finally \[secret:GIT_TOKEN\]'
    check "secret: an artifact holding the value is stored redacted" "$(q "SELECT convert_from(content, 'UTF8') FROM agent_run_artifacts WHERE run_id = '$r' AND path ~ 'token-copy.txt\$'")" "[secret:GIT_TOKEN]"
    check "secret: not in agent_run_artifacts" "$(q "SELECT count(*) FROM agent_run_artifacts WHERE position(convert_to('$SECRET_VALUE', 'UTF8') in coalesce(content, '')) > 0 OR strpos(path || coalesce(cut, ''), '$SECRET_VALUE') > 0")" 0
    check "secret: not in sandboxes" "$(q "SELECT count(*) FROM sandboxes s WHERE strpos(row_to_json(s)::text, '$SECRET_VALUE') > 0")" 0
    r2=${RUN[secret_error]}
    if enq_ok "secret in an error" "$r2" && ended "secret in an error: the clone of a repository named like the value" "$r2" failed; then
        e=$(col "$r2" error)
        check_re "secret in an error: git's output is there, redacted" "$e" '^git clone failed.*\[secret:GIT_TOKEN\]'
        check "secret in an error: the error does not hold the value" "$(col "$r2" "strpos(error, '$SECRET_VALUE')")" 0
        check "secret in an error: no event holds it" "$(q "SELECT count(*) FROM agent_run_events WHERE run_id = '$r2' AND strpos(data::text, '$SECRET_VALUE') > 0")" 0
    fi
    check "secret: not in the PostgreSQL server log" "$(grep -c -F -- "$SECRET_VALUE" "$PG_SERVER_LOG")" 0
    echo "# (informational) the git server's log has the value $(grep -c -F -- "$SECRET_VALUE" "$GITSERVER_LOG") times: the clone of the repository named like it asks for that path"
    check_re "secret: a command's git ls-remote to another host ran" "$outs" 'other host: exit [0-9]+'
    check "secret: the repo's credential helper never offered the value to another host ($(grep -c . "$OTHER_DIR/auth.log") passwords offered there)" \
        "$(grep -c -F -- "$SECRET_SHA" "$OTHER_DIR/auth.log")" 0
    echo "# (informational) the value is in sandboxd's log $(grep -c -F -- "$SECRET_VALUE" "$SANDBOXD_LOG") times, in modeld's log $(grep -c -F -- "$SECRET_VALUE" "$MODELD_LOG") times"
    commit=$(col "$r" commit_id)
    check "secret: the authenticated push landed on $SECRET_BRANCH" "$(gitserver_rev proj "$SECRET_BRANCH")" "${commit:-<no commit_id>}"
    check_re "secret: the git server saw authenticated pushes" "$(grep -c 'POST /auth/proj.git/git-receive-pack 200' "$GITSERVER_LOG")" '^[1-9]'
fi

# --- case: files --------------------------------------------------------------
if has_case files && enq_ok "files run" "${RUN[files]}"; then
    r=${RUN[files]}
    if ended "files run" "$r" completed; then
        check "files: files_written {count, bytes}" "$(evf "$r" files_written count) $(evf "$r" files_written bytes)" "2 15"
        check "files: files_written comes before the first execution turn's llm_response" \
            "$(q "SELECT (SELECT min(seq) FROM agent_run_events WHERE run_id = '$r' AND kind = 'files_written') < (SELECT min(seq) FROM agent_run_events WHERE run_id = '$r' AND kind = 'llm_response' AND data->>'purpose' IS DISTINCT FROM 'plan')")" t
        check_re "files: the command read both files" "$(q "SELECT data->>'stdout' FROM agent_run_events WHERE run_id = '$r' AND kind = 'tool_result'")" $'hello files\n 00 01 02 ff'
    fi
fi

# --- case: structured ---------------------------------------------------------
if has_case structured; then
    WANT='{"note": "six times seven", "answer": 42}'
    for k in valid invalid1; do
        r=${RUN[struct_$k]}
        enq_ok "structured $k" "$r" || continue
        if ended "structured $k" "$r" completed; then
            check "structured $k: result is the JSON itself" "$(col "$r" "result = '$WANT'::jsonb")" t
            [ "$(col "$r" "result = '$WANT'::jsonb")" = t ] || echo "    result: $(col "$r" result)"
        fi
    done
    r=${RUN[struct_invalid1]}
    is_uuid "$r" && check "structured invalid1: the model was asked once more for the result (execute turns >= 3)" \
        "$(q "SELECT count(*) >= 3 FROM agent_run_events WHERE run_id = '$r' AND kind = 'llm_response' AND data->>'purpose' IS DISTINCT FROM 'plan'")" t
    r=${RUN[struct_invalid2]}
    if enq_ok "structured invalid2" "$r" && ended "structured invalid2" "$r" failed; then
        check_re "structured invalid2: the error" "$(col "$r" error)" "^the model's structured result does not match result_schema"
    fi
fi

# --- case: budget -------------------------------------------------------------
if has_case budget; then
    r=${RUN[budget_tokens]}
    if enq_ok "budget max_tokens" "$r" && ended "budget max_tokens" "$r" failed; then
        check_re "budget max_tokens: the error" "$(col "$r" error)" '^the run used [0-9]+ tokens, more than its max_tokens \(300\)'
        check_re "budget max_tokens: what it did is kept (llm_calls, tokens)" "$(col "$r" "llm_calls || ' ' || input_tokens")" '^[1-9][0-9]* [1-9]'
        used=$(col "$r" "input_tokens + output_tokens + cache_read_tokens + cache_write_tokens")
        check_re "budget max_tokens: the N of the error is the run's token total ($used)" "$(col "$r" error)" "used $used tokens"
    fi
    r=${RUN[budget_cost]}
    if enq_ok "budget max_cost_usd" "$r" && ended "budget max_cost_usd" "$r" failed; then
        check_re "budget max_cost_usd: the error" "$(col "$r" error)" '^the run cost \$[0-9.]+, more than its max_cost_usd \(\$0?\.0005(0*)\)'
        check_re "budget max_cost_usd: cost_usd kept" "$(col "$r" "cost_usd > 0")" t
    fi
    r=${RUN[budget_ok]}
    if enq_ok "budget priced run" "$r" && ended "budget priced run" "$r" completed; then
        got=$(col "$r" "cost_usd")
        want=$(col "$r" "round((input_tokens * 3 + output_tokens * 15 + cache_write_tokens * 3.75 + cache_read_tokens * 0.30) / 1e6, 12)")
        check "budget: cost_usd = tokens at ws-model-priced's prices (input $(col "$r" input_tokens), output $(col "$r" output_tokens), cache write $(col "$r" cache_write_tokens), read $(col "$r" cache_read_tokens))" \
            "$(q "SELECT round($got::numeric, 12) = $want")" t
    fi
fi

# --- case: keep ---------------------------------------------------------------
if has_case keep && enq_ok "keep_sandbox run" "${RUN[keep]}"; then
    r=${RUN[keep]}
    if ended "keep_sandbox run" "$r" completed; then
        sleep 1
        sb=$(col "$r" sandbox_id)
        check "keep: sandbox_kept.sandbox_id" "$(evf "$r" sandbox_kept sandbox_id)" "$sb"
        check_re "keep: sandbox_kept.until" "$(evf "$r" sandbox_kept until)" '^20[0-9][0-9]-'
        check "keep: no sandbox_killed event" "$(q "SELECT count(*) FROM agent_run_events WHERE run_id = '$r' AND kind = 'sandbox_killed'")" 0
        check "keep: the sandboxes row is running" "$(q "SELECT state FROM sandboxes WHERE sandbox_id = '$sb'")" running
        check "keep: expires_at = completed_at + 10 min (within 60 s)" \
            "$(q "SELECT abs(extract(epoch FROM s.expires_at - (r.completed_at + interval '10 minutes'))) < 60 FROM sandboxes s, agent_runs r WHERE s.sandbox_id = '$sb' AND r.id = '$r'")" t
        check "keep: the owner's sandbox_exec reads the run's file" "$(qa "SELECT stdout FROM sandbox_exec('$sb', 'cat /home/user/kept.txt')")" "kept-$NONCE"
        check "keep: the owner's sandbox_read_file_text reads it too" "$(qa "SELECT sandbox_read_file_text('$sb', '/home/user/kept.txt')")" "kept-$NONCE"
        expect_err "keep: ws_b's sandbox_read_file_text is refused" ws_b "SELECT sandbox_read_file_text('$sb', '/home/user/kept.txt')" '42501|42704'
        expect_err "keep: ws_b's sandbox_exec in it is refused" ws_b "SELECT stdout FROM sandbox_exec('$sb', 'id')" '42501|42704'
        qa "SELECT sandbox_kill('$sb')" >/dev/null
    fi
    r=${RUN[keep_short]}
    if enq_ok "keep_sandbox 3 s run" "$r" && ended "keep_sandbox 3 s run" "$r" completed; then
        sb=$(col "$r" sandbox_id)
        gone=""
        for _ in $(seq 1 150); do
            code=$(curl -s -o /dev/null -w '%{http_code}' -H "X-API-Key: $SANDBOXD_API_KEY" "$E2B_API_URL/sandboxes/$sb")
            [ "$code" = 404 ] && { gone=1; break; }
            sleep 0.2
        done
        check "keep 3 s: the sandbox is gone from sandboxd within 30 s" "${gone:-no}" 1
        check_re "keep 3 s: its sandboxes row is no longer running" "$(q "SELECT state FROM sandboxes WHERE sandbox_id = '$sb'")" '^(killed|expired|lost)$'
    fi
fi

# --- case: artifacts ----------------------------------------------------------
# artifact paths are compared relative to /home/user (the worker stores them absolute)
if has_case artifacts; then
    r=${RUN[art_small]}
    if enq_ok "artifacts run" "$r" && ended "artifacts run" "$r" completed; then
        check "artifacts: the paths collected" "$(art "$r" "rel || ':' || kind" | tr '\n' ' ')" "big.bin:file out/a.txt:file out/b.txt:file "
        check "artifacts: out/a.txt content and size" "$(artp "$r" out/a.txt "convert_from(content, 'UTF8') || ':' || size")" $'alpha\n:6'
        check "artifacts: binary out/b.txt kept exactly" "$(artp "$r" out/b.txt "encode(content, 'hex')")" "626574610a0001"
        check "artifacts: sha256 = sha256(content)" "$(q "SELECT bool_and(sha256 = encode(sha256(content), 'hex')) FROM agent_run_artifacts WHERE run_id = '$r' AND content IS NOT NULL")" t
        check "artifacts: big.bin (2 MB) over the per-file cap: no content, size kept" "$(artp "$r" big.bin "(content IS NULL) || ':' || size")" "true:2097152"
        check_re "artifacts: big.bin's cut says why" "$(artp "$r" big.bin cut)" 'artifact_max_bytes|1048576|1 ?MB'
        check "artifacts: the artifacts event {collected, left_out}" "$(evf "$r" artifacts collected) $(evf "$r" artifacts left_out)" "3 0"
        check_re "artifacts: the event's cut names big.bin" "$(evf "$r" artifacts cut)" 'big.bin'
    fi
    r=${RUN[art_many]}
    if enq_ok "artifacts 10,000 files" "$r" && ended "artifacts 10,000 files" "$r" completed; then
        check "artifacts many: 100 rows (sandbox.max_artifacts)" "$(arta "$r" "count(*)")" 100
        check "artifacts many: the event says 100 collected, 9900 left out" "$(evf "$r" artifacts collected) $(evf "$r" artifacts left_out)" "100 9900"
    fi
    r=${RUN[art_huge]}
    if enq_ok "artifacts 100 MB file" "$r" && ended "artifacts 100 MB file" "$r" completed; then
        check "artifacts huge: a row without content, size 104857600" "$(artp "$r" huge.bin "(content IS NULL) || ':' || size")" "true:104857600"
        check_re "artifacts huge: cut says why" "$(artp "$r" huge.bin cut)" '.'
        check_re "artifacts huge: collected within 30 s of the last tool result" \
            "$(q "SELECT extract(epoch FROM r.completed_at - (SELECT max(at) FROM agent_run_events WHERE run_id = r.id AND kind = 'tool_result')) < 30 FROM agent_runs r WHERE id = '$r'")" t
    fi
    r=${RUN[art_run]}
    if enq_ok "artifacts per-run cap" "$r" && ended "artifacts per-run cap" "$r" completed; then
        check "artifacts per-run: 12 rows" "$(arta "$r" "count(*)")" 12
        check "artifacts per-run: 10 kept whole (10,000,000 bytes <= 10 MB)" "$(arta "$r" "count(*) FILTER (WHERE content IS NOT NULL AND length(content) = 1000000)")" 10
        check_re "artifacts per-run: the 2 others cut, naming the per-run cap" "$(arta "$r" "cut" | grep -v '^$' | sort -u)" 'artifacts_max_bytes|10485760|10 ?MB'
        check "artifacts per-run: kept bytes <= 10485760" "$(arta "$r" "coalesce(sum(length(content)), 0) <= 10485760")" t
    fi
fi

# --- case: badinput -----------------------------------------------------------
if has_case badinput; then
    P="'bad input $NONCE'"
    expect_err "badinput: an unknown secret" ws_a "INSERT INTO agent_runs (prompt, secrets) VALUES ($P, '{NO_SUCH_SECRET}')" '42704|22023|42501'
    expect_err "badinput: ws_b naming ws_a's secret" ws_b "INSERT INTO agent_runs (prompt, secrets) VALUES ($P, '{GIT_TOKEN}')" '42501'
    expect_err "badinput: ws_b naming ws_a's secret as repo.secret" ws_b "INSERT INTO agent_runs (prompt, repo) VALUES ($P, '{\"url\": \"$GITSERVER_URL/auth/proj.git\", \"secret\": \"GIT_TOKEN\"}')" '42501|42704|22023'
    expect_err "badinput: an unknown repo.secret" ws_a "INSERT INTO agent_runs (prompt, repo) VALUES ($P, '{\"url\": \"$GITSERVER_URL/auth/proj.git\", \"secret\": \"NO_SUCH_SECRET\"}')" '42704|22023|42501'
    for url in "ftp://127.0.0.1/proj.git" "file:///tmp/x.git" "ssh://git@127.0.0.1/proj.git" "not a url" "http://user:pw@127.0.0.1/proj.git" "https://tok@example.com/x.git" "" "-c core.sshCommand=x http://h/x"; do
        expect_err "badinput: repo url '$url'" ws_a "INSERT INTO agent_runs (prompt, repo) VALUES ($P, '{\"url\": \"$url\"}')" 22023
    done
    expect_err "badinput: repo without url" ws_a "INSERT INTO agent_runs (prompt, repo) VALUES ($P, '{\"push\": true}')" 22023
    expect_err "badinput: repo.depth not an integer" ws_a "INSERT INTO agent_runs (prompt, repo) VALUES ($P, '{\"url\": \"$GITSERVER_URL/proj.git\", \"depth\": \"x\"}')" 22023
    expect_err "badinput: repo.branch starting with '-'" ws_a "INSERT INTO agent_runs (prompt, repo) VALUES ($P, '{\"url\": \"$GITSERVER_URL/proj.git\", \"branch\": \"--upload-pack=x\"}')" 22023
    expect_err "badinput: repo.ref starting with '-'" ws_a "INSERT INTO agent_runs (prompt, repo) VALUES ($P, '{\"url\": \"$GITSERVER_URL/proj.git\", \"ref\": \"--upload-pack=touch /tmp/pwned\"}')" 22023
    expect_err "badinput: an invalid JSON Schema (unknown type)" ws_a "INSERT INTO agent_runs (prompt, result_schema) VALUES ($P, '{\"type\": \"nonsense\"}')" 22023
    expect_err "badinput: an invalid JSON Schema (required not an array)" ws_a "INSERT INTO agent_runs (prompt, result_schema) VALUES ($P, '{\"type\": \"object\", \"required\": \"answer\"}')" 22023
    expect_err "badinput: a JSON Schema that is not an object" ws_a "INSERT INTO agent_runs (prompt, result_schema) VALUES ($P, '42')" 22023
    for f in '{"/etc/passwd": "x"}' '{"../x": "y"}' '{"/home/user/../etc/x": "y"}' '{"a/../../b": "y"}' '{"/home/userx/a": "y"}' '{"/tmp/a": "y"}' '{"a.txt": 5}' '{"a.txt": {"base64": "***"}}' '[1]'; do
        expect_err "badinput: files $f" ws_a "INSERT INTO agent_runs (prompt, files) VALUES ($P, '$f')" 22023
    done
    for g in '../x' 'a/../../b' '/etc/*'; do
        expect_err "badinput: artifacts glob '$g'" ws_a "INSERT INTO agent_runs (prompt, artifacts) VALUES ($P, ARRAY['$g'])" 22023
    done
    expect_err "badinput: keep_sandbox over 24 h" ws_a "INSERT INTO agent_runs (prompt, keep_sandbox) VALUES ($P, '25 hours')" 23514
    check "badinput: none of the refused runs exists" "$(q "SELECT count(*) FROM agent_runs WHERE prompt = 'bad input $NONCE'")" 0
fi

# --- case: clone --------------------------------------------------------------
if has_case clone; then
    r=${RUN[clone_ref]}
    if enq_ok "clone of a missing ref" "$r" && ended "clone of a missing ref" "$r" failed; then
        e=$(col "$r" error)
        check_re "clone ref: the error starts with 'git clone failed'" "$e" '^git clone failed'
        check_re "clone ref: the error has git's output" "$e" "no-such-ref-$NONCE.*(not found|Could not find)|(not found|Could not find).*no-such-ref-$NONCE"
        check "clone ref: no command ran" "$(q "SELECT count(*) FROM agent_run_events WHERE run_id = '$r' AND kind = 'tool_call'")" 0
    fi
    r=${RUN[clone_repo]}
    if enq_ok "clone of a missing repository" "$r" && ended "clone of a missing repository" "$r" failed; then
        e=$(col "$r" error)
        check_re "clone repo: the error starts with 'git clone failed'" "$e" '^git clone failed'
        check_re "clone repo: the error has git's output" "$e" 'not found|404'
    fi
fi

# --- case: roles --------------------------------------------------------------
if has_case roles; then
    expect_err "roles: ws_b's sandbox_create with ws_a's secret" ws_b "SELECT sandbox_create(secrets => '{GIT_TOKEN}')" 42501
    expect_err "roles: ws_b cannot read sandbox_secrets" ws_b "SELECT count(*) FROM sandbox_secrets" 42501
    check "roles: ws_b's sandbox_list_secrets() does not show GIT_TOKEN" "$(qb "SELECT count(*) FROM sandbox_list_secrets() WHERE name = 'GIT_TOKEN'")" 0
    check "roles: ws_a's sandbox_list_secrets() shows GIT_TOKEN" "$(qa "SELECT count(*) FROM sandbox_list_secrets() WHERE name = 'GIT_TOKEN'")" 1
    any=$(q "SELECT run_id FROM agent_run_artifacts LIMIT 1")
    if [ -n "$any" ]; then
        check "roles: ws_b sees none of ws_a's artifacts (RLS)" "$(qb "SELECT count(*) FROM agent_run_artifacts")" 0
        check_re "roles: ws_a sees its artifacts" "$(qa "SELECT count(*) FROM agent_run_artifacts WHERE run_id = '$any'")" '^[1-9]'
    else
        notok "roles: no artifact row to test RLS with (the artifacts/repo cases collected none)"
    fi
    expect_err "roles: ws_b cannot write agent_run_artifacts" ws_b "INSERT INTO agent_run_artifacts (run_id, path, size) SELECT id, 'x', 1 FROM agent_runs LIMIT 1" 42501
    expect_err "roles: ws_b cannot grant ws_a's secret to itself" ws_b "SELECT sandbox_grant_secret('GIT_TOKEN', 'ws_b')" 42501
    qa "SELECT sandbox_grant_secret('GIT_TOKEN', 'ws_b')" >/dev/null
    r=$(qb "INSERT INTO agent_runs (prompt, secrets, run_after) VALUES ('granted $NONCE', '{GIT_TOKEN}', now() + interval '1 hour') RETURNING id")
    if is_uuid "$r"; then ok "roles: after sandbox_grant_secret ws_b may use it"; qb "SELECT sandbox_cancel_run('$r')" >/dev/null
    else notok "roles: after sandbox_grant_secret ws_b may use it: ${r:0:300}"; fi
    qa "SELECT sandbox_revoke_secret('GIT_TOKEN', 'ws_b')" >/dev/null
    expect_err "roles: after sandbox_revoke_secret ws_b may not" ws_b "INSERT INTO agent_runs (prompt, secrets) VALUES ('revoked $NONCE', '{GIT_TOKEN}')" 42501
fi

# --- case: openai (last: it switches the provider for the whole cluster) ---------
if has_case openai; then
    q "ALTER SYSTEM SET sandbox.llm_provider = 'openai'" >/dev/null
    q "ALTER SYSTEM SET sandbox.llm_api_url = '$MODELD_URL/v1'" >/dev/null
    q "SELECT pg_reload_conf()" >/dev/null
    sleep 2
    for k in valid invalid1 invalid2; do
        extra=""
        [ $k = invalid1 ] && extra="[[modeld: result_invalid_first=1]]"
        [ $k = invalid2 ] && extra="[[modeld: result_invalid_first=2]]"
        RUN[oai_$k]=$(enqueue "(prompt, result_schema) VALUES (\$p\$OpenAI answer ($NONCE $k).
\`\`\`bash
echo 42
\`\`\`
[[modeld: result={\"answer\": 7, \"note\": \"openai\"}]] $extra
\$p\$, '$SCHEMA')")
    done
    RUN[oai_secret]=$(enqueue "(prompt, secrets) VALUES (\$p\$OpenAI with a secret ($NONCE).
\`\`\`bash
echo \"value: \$GIT_TOKEN\"
\`\`\`
\$p\$, '{GIT_TOKEN}')")
    for k in valid invalid1; do
        r=${RUN[oai_$k]}
        if enq_ok "openai structured $k" "$r" && ended "openai structured $k (response_format json_schema)" "$r" completed; then
            check "openai structured $k: result is the JSON itself" "$(col "$r" "result = '{\"answer\": 7, \"note\": \"openai\"}'::jsonb")" t
            [ "$(col "$r" "result = '{\"answer\": 7, \"note\": \"openai\"}'::jsonb")" = t ] || echo "    result: $(col "$r" result)"
        fi
    done
    r=${RUN[oai_invalid2]}
    if enq_ok "openai structured invalid2" "$r" && ended "openai structured invalid2" "$r" failed; then
        check_re "openai structured invalid2: the error" "$(col "$r" error)" "^the model's structured result does not match result_schema"
    fi
    r=${RUN[oai_secret]}
    if enq_ok "openai secret run" "$r" && ended "openai secret run" "$r" completed; then
        check_re "openai secret: the output is redacted" "$(col "$r" "result::text")" 'value: \[secret:GIT_TOKEN\]'
        check "openai secret: the value is in no event" "$(q "SELECT count(*) FROM agent_run_events WHERE run_id = '$r' AND strpos(data::text, '$SECRET_VALUE') > 0")" 0
    fi
    q "ALTER SYSTEM RESET sandbox.llm_provider" >/dev/null
    q "ALTER SYSTEM RESET sandbox.llm_api_url" >/dev/null
    q "SELECT pg_reload_conf()" >/dev/null
fi

# --- case: resume (last: it kills the worker, so the postmaster restarts) --------
KILLED=""
if has_case resume; then
    sleep 2
    RUN[resume]=$(enqueue "(prompt, repo) VALUES (\$p\$Survive a crash ($NONCE).
\`\`\`bash
cd /home/user/repo && echo first >> README.md && sleep 8 && echo slept
\`\`\`
\`\`\`bash
cd /home/user/repo && echo second >> README.md && grep -c first README.md
\`\`\`
\$p\$, '{\"url\": \"$GITSERVER_URL/proj.git\", \"push\": true, \"branch\": \"resume-$NONCE\"}')")
    r=${RUN[resume]}
    if enq_ok "resume run" "$r"; then
        got=""
        for _ in $(seq 1 300); do
            [ "$(q "SELECT count(*) FROM agent_run_events WHERE run_id = '$r' AND kind = 'tool_call'")" = 1 ] && { got=1; break; }
            sleep 0.1
        done
        pid=$(q "SELECT pid FROM sandbox_worker_status() WHERE pid IS NOT NULL ORDER BY worker LIMIT 1")
        ppid=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f2)
        if [ -n "$got" ] && [ -n "$pid" ] && [ "$ppid" = "$(head -1 "$PGDATA_DIR/data/postmaster.pid")" ]; then
            sleep 1
            kill -9 "$pid"; KILLED=$pid
            ok "resume: killed this cluster's worker $pid during the first command"
            if ended "resume: the run after kill -9" "$r" completed; then
                check "resume: attempt 2" "$(col "$r" attempts)" 2
                check "resume: cloned once" "$(q "SELECT count(*) FROM agent_run_events WHERE run_id = '$r' AND kind = 'repo_cloned'")" 1
                check "resume: one sandbox" "$(q "SELECT count(*) FROM agent_run_events WHERE run_id = '$r' AND kind = 'sandbox_created'")" 1
                b="resume-$NONCE"
                check "resume: the branch pushed at commit_id" "$(gitserver_rev proj "$b")" "$(col "$r" commit_id)"
                check "resume: README.md on the branch has each change once" \
                    "$(gitserver_show proj "$b:README.md" 2>&1 | grep -c '^first$'):$(gitserver_show proj "$b:README.md" 2>&1 | grep -c '^second$')" "1:1"
                check_re "resume: the diff artifact has both changes" "$(q "SELECT convert_from(content, 'UTF8') FROM agent_run_artifacts WHERE run_id = '$r' AND path = 'repo.diff'")" $'\\+first\n\\+second'
            fi
        else
            notok "resume: no first command seen ($got) or no worker of this cluster to kill ($pid, parent $ppid)"
        fi
    fi
fi

# --- the end --------------------------------------------------------------------
READ1=$(files_read_bytes)
if has_case artifacts; then
    check "artifacts: sandboxd read far less than 100 MB of files over the suite ($((READ1 - READ0)) bytes)" \
        "$(( READ1 - READ0 < 60 * 1024 * 1024 ))" 1
fi
if [ -n "${WS_VERBOSE:-}" ]; then
    for k in "${!RUN[@]}"; do is_uuid "${RUN[$k]}" && { echo "# $k"; show_events "${RUN[$k]}"; }; done
fi
if [ -n "$KILLED" ]; then
    others=$(grep -E "terminated by signal|was terminated by exception|PANIC" "$PG_SERVER_LOG" | grep -v -F "(PID $KILLED) was terminated by signal 9" || true)
    if [ -n "$others" ]; then notok "the server log shows a crash other than our kill -9: $(echo "$others" | head -3)"; else ok "no crash but our kill -9"; fi
else
    pg_check_no_crash || notok "the server crashed"
fi
if [ "$status" != 0 ]; then
    echo "--- server log (errors and worker lines)"
    grep -E "ERROR|WARNING|FATAL|sandbox worker" "$PG_SERVER_LOG" | grep -v -F -- "$SECRET_VALUE" | tail -30
fi
echo "# workspace suite: $(( $(date +%s) - T0 )) s"
exit $status
