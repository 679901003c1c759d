/* proc.c - sandbox processes, their output fan-out and stream producers
 * (see proc.h). */
#include "proc.h"

#include "b64.h"
#include "connect.h"
#include "iothread.h"
#include "isolation.h"
#include "log.h"
#include "stats.h"
#include "timeutil.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHUNK_MAX (32 * 1024)           /* envd's stdChunkSize */
#define BACKPRESSURE_HIGH (4u << 20)
#define BACKPRESSURE_LOW (1u << 20)
#define EXIT_DRAIN_MAX (8u << 20)       /* bytes read after exit before giving up */

/* ---------- reference counting ---------- */

/* Takes a reference (list, caller, subscriber or the I/O thread). */
void proc_ref(proc_t *p)
{
    __atomic_add_fetch(&p->refs, 1, __ATOMIC_RELAXED);
}

/* The last reference closes what is left (stdin, raw pipes) and frees. */
void proc_unref(proc_t *p)
{
    if (!p || __atomic_sub_fetch(&p->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    if (p->in_fd >= 0)
        close(p->in_fd);
    if (p->io == PROC_IO_RAW) {
        if (p->out_fd >= 0)
            close(p->out_fd);
    }
    json_decref(p->config);
    free(p->tag);
    pthread_mutex_destroy(&p->in_mu);
    pthread_cond_destroy(&p->cond);
    sandbox_t *sb = p->sb;
    free(p);
    sandbox_unref(sb);
}

/* ---------- subscribers ---------- */

/* Creates a listener; it is attached to a process by proc_start/sub_attach. */
sub_t *sub_new(int keepalive_ms, int64_t deadline_ms, bool kill_at_deadline)
{
    sub_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    time_cond_init(&s->cond);
    s->keepalive_ms = keepalive_ms > 0 ? keepalive_ms : 90000;
    s->deadline_ms = deadline_ms;
    s->kill_at_deadline = kill_at_deadline;
    s->last_ms = time_mono_ms();
    return s;
}

/* Queues one encoded message (sandbox mu held).  Closed subscribers drop it. */
static void sub_push(sub_t *s, httpd_msg_t kind, const char *data, size_t len)
{
    if (s->closed)
        return;
    msg_t *m = malloc(sizeof *m + len);
    if (!m)
        return;
    m->next = NULL;
    m->kind = kind;
    m->len = len;
    memcpy(m->data, data, len);
    if (s->tail)
        s->tail->next = m;
    else
        s->head = m;
    s->tail = m;
    s->bytes += len;
    pthread_cond_signal(&s->cond);
}

/* Marks the end of a subscriber's messages (sandbox mu held). */
static void sub_close(sub_t *s)
{
    s->closed = true;
    pthread_cond_signal(&s->cond);
}

/* Unlinks a subscriber from its process (sandbox mu held). */
static void sub_detach(sub_t *s)
{
    if (!s->attached)
        return;
    for (sub_t **pp = &s->proc->subs; *pp; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    }
    s->attached = false;
}

/* Links a subscriber (sandbox mu held). */
static void sub_link(proc_t *p, sub_t *s)
{
    proc_ref(p);
    s->proc = p;
    s->next = p->subs;
    p->subs = s;
    s->attached = true;
}

/* Sends the same message to every subscriber of a process (mu held). */
static void proc_broadcast(proc_t *p, httpd_msg_t kind, const buf_t *b)
{
    for (sub_t *s = p->subs; s; s = s->next)
        sub_push(s, kind, b->data, b->len);
}

/* Broadcasts an event object as a message envelope (mu held). */
static void proc_broadcast_json(proc_t *p, httpd_msg_t kind, json_t *j)
{
    buf_t b;
    buf_init(&b);
    connect_envelope_json(&b, CONNECT_FLAG_MESSAGE, j);
    proc_broadcast(p, kind, &b);
    buf_free(&b);
}

/* Ends every stream of a process: optional end-of-stream (code NULL = ok),
 * then closes the subscribers (mu held). */
static void proc_end_streams(proc_t *p, bool with_eos, const char *code, const char *message)
{
    if (with_eos) {
        buf_t b;
        buf_init(&b);
        connect_end_stream(&b, code, message);
        proc_broadcast(p, HTTPD_MSG_FINAL, &b);
        buf_free(&b);
    }
    for (sub_t *s = p->subs; s; s = s->next)
        sub_close(s);
}

/* Unlinks a process from its sandbox's list and drops the list's reference
 * later (mu held; returns true if the caller must proc_unref). */
static bool proc_unlink(proc_t *p)
{
    if (!p->linked)
        return false;
    for (proc_t **pp = &p->sb->procs; *pp; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    }
    p->linked = false;
    return true;
}

/* Attaches a listener to a running process and queues its start event, so
 * a reconnecting client sees {"start":{"pid"}} first like with Start. */
int sub_attach(proc_t *p, sub_t *s)
{
    sandbox_t *sb = p->sb;
    pthread_mutex_lock(&sb->mu);
    if (p->state != PROC_RUNNING || sb->state == SBX_DEAD) {
        pthread_mutex_unlock(&sb->mu);
        return -1;
    }
    sub_link(p, s);
    char ev[96];
    int n = snprintf(ev, sizeof ev, "{\"event\":{\"start\":{\"pid\":%d}}}", p->pid);
    buf_t b;
    buf_init(&b);
    connect_envelope(&b, CONNECT_FLAG_MESSAGE, ev, (size_t)n);
    sub_push(s, HTTPD_MSG_DATA, b.data, b.len);
    buf_free(&b);
    pthread_mutex_unlock(&sb->mu);
    return 0;
}

/* The stream producer: hands out queued messages in order; emits a
 * keepalive after `keepalive_ms` of silence; at the Connect deadline kills
 * the process (Start streams) and ends with deadline_exceeded. */
httpd_msg_t sub_next(void *ctx, buf_t *out)
{
    sub_t *s = ctx;
    proc_t *p = s->proc;
    if (!p)
        return HTTPD_MSG_END;
    sandbox_t *sb = p->sb;
    pthread_mutex_lock(&sb->mu);
    for (;;) {
        if (s->head) {
            msg_t *m = s->head;
            s->head = m->next;
            if (!s->head)
                s->tail = NULL;
            s->bytes -= m->len;
            bool want_resume = p->reading_paused && !p->resume_posted &&
                               s->bytes < BACKPRESSURE_LOW;
            if (want_resume) {
                for (sub_t *o = p->subs; o; o = o->next)
                    if (o->bytes >= BACKPRESSURE_LOW)
                        want_resume = false;
                if (want_resume) {
                    p->resume_posted = true;
                    proc_ref(p);
                }
            }
            s->last_ms = time_mono_ms();
            pthread_mutex_unlock(&sb->mu);
            if (want_resume)
                io_post(IO_CMD_RESUME_PROC, p);
            httpd_msg_t kind = m->kind;
            buf_append(out, m->data, m->len);
            free(m);
            return kind;
        }
        if (s->closed) {
            pthread_mutex_unlock(&sb->mu);
            return HTTPD_MSG_END;
        }
        int64_t now = time_mono_ms();
        if (s->deadline_ms && now >= s->deadline_ms) {
            s->closed = true;
            sub_detach(s);
            bool kill_it = s->kill_at_deadline && p->state == PROC_RUNNING;
            if (kill_it)
                p->kill_at_ms = 0; /* done here, not by proc_tick */
            pthread_mutex_unlock(&sb->mu);
            if (kill_it) {
                proc_signal(p, SIGKILL);
                stats_inc("commands_deadline_killed");
            }
            connect_end_stream(out, "deadline_exceeded", "context deadline exceeded");
            return HTTPD_MSG_FINAL;
        }
        int64_t ka_at = s->last_ms + s->keepalive_ms;
        if (now >= ka_at) {
            s->last_ms = now;
            pthread_mutex_unlock(&sb->mu);
            static const char ka[] = "{\"event\":{\"keepalive\":{}}}";
            connect_envelope(out, CONNECT_FLAG_MESSAGE, ka, sizeof ka - 1);
            return HTTPD_MSG_DATA;
        }
        int64_t wake = ka_at;
        if (s->deadline_ms && s->deadline_ms < wake)
            wake = s->deadline_ms;
        struct timespec ts;
        time_abs_mono(&ts, wake - now);
        pthread_cond_timedwait(&s->cond, &sb->mu, &ts);
    }
}

/* Stream teardown: detaches from the process and frees what is queued. */
void sub_free(void *ctx)
{
    sub_t *s = ctx;
    proc_t *p = s->proc;
    if (p) {
        pthread_mutex_lock(&p->sb->mu);
        sub_detach(s);
        s->closed = true;
        pthread_mutex_unlock(&p->sb->mu);
    }
    msg_t *m = s->head;
    while (m) {
        msg_t *n = m->next;
        free(m);
        m = n;
    }
    pthread_cond_destroy(&s->cond);
    free(s);
    proc_unref(p);
}

/* ---------- starting processes ---------- */

/* Builds the environment: sandbox defaults overridden by the request's
 * envs (later keys win, as in envd), as "K=V" strings. */
static json_t *build_env(sandbox_t *sb, json_t *envs)
{
    json_t *env = sandbox_base_env(sb);
    const char *k;
    json_t *v;
    if (json_is_object(envs))
        json_object_foreach(envs, k, v) if (json_is_string(v) && k[0] && !strchr(k, '='))
            json_object_set(env, k, v);
    json_t *arr = json_array();
    json_object_foreach(env, k, v) {
        size_t n = strlen(k) + strlen(json_string_value(v)) + 2;
        char *kv = malloc(n);
        if (!kv)
            continue;
        snprintf(kv, n, "%s=%s", k, json_string_value(v));
        json_array_append_new(arr, json_string(kv));
        free(kv);
    }
    json_decref(env);
    return arr;
}

/* Makes a pipe with O_CLOEXEC on both ends. */
static int make_pipe(int fds[2])
{
    return pipe2(fds, O_CLOEXEC);
}

/* Closes up to three descriptors that are >= 0. */
static void close3(int a, int b, int c)
{
    if (a >= 0)
        close(a);
    if (b >= 0)
        close(b);
    if (c >= 0)
        close(c);
}

/* Creates the pipes, registers the process (STARTING, with its first
 * subscriber), and sends the spawn request; the I/O thread completes the
 * start when the init answers. */
proc_t *proc_start(sandbox_t *sb, const proc_spec_t *spec, proc_io_t io, sub_t *sub,
                   int *raw_in, int *raw_out, char *code, size_t codesz, char *err, size_t errsz)
{
    if (!spec->cmd || !spec->cmd[0]) {
        snprintf(code, codesz, "invalid_argument");
        snprintf(err, errsz, "process config is missing cmd");
        return NULL;
    }
    if (sandbox_ensure_init(sb, err, errsz) < 0) {
        snprintf(code, codesz, "unavailable");
        return NULL;
    }
    int in_p[2] = {-1, -1}, out_p[2] = {-1, -1}, err_p[2] = {-1, -1};
    int child_in = -1, child_err = -1;
    if (make_pipe(out_p) < 0)
        goto sys_fail;
    if (spec->stdin_open) {
        if (make_pipe(in_p) < 0)
            goto sys_fail;
        child_in = in_p[0];
    } else {
        child_in = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (child_in < 0)
            goto sys_fail;
    }
    if (io == PROC_IO_STREAM) {
        if (make_pipe(err_p) < 0)
            goto sys_fail;
        child_err = err_p[1];
        fcntl(out_p[0], F_SETFL, O_NONBLOCK);
        fcntl(err_p[0], F_SETFL, O_NONBLOCK);
    } else {
        child_err = spec->stderr_fd >= 0 ? fcntl(spec->stderr_fd, F_DUPFD_CLOEXEC, 3)
                                         : open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (child_err < 0)
            goto sys_fail;
    }

    proc_t *p = calloc(1, sizeof *p);
    if (!p)
        goto sys_fail;
    p->refs = 2; /* caller + sandbox list */
    sandbox_ref(sb);
    p->sb = sb;
    p->io = io;
    p->hidden = spec->hidden;
    p->in_fd = in_p[1];
    p->out_fd = out_p[0];
    p->err_fd = err_p[0];
    p->w_out = (io_watch_t){IOW_PROC_OUT, -1, p};
    p->w_err = (io_watch_t){IOW_PROC_ERR, -1, p};
    pthread_mutex_init(&p->in_mu, NULL);
    time_cond_init(&p->cond);
    p->tag = spec->tag ? strdup(spec->tag) : NULL;

    json_t *argv = json_array();
    json_array_append_new(argv, json_string(spec->cmd));
    json_t *args = json_array();
    size_t i;
    json_t *a;
    json_array_foreach(spec->args, i, a) if (json_is_string(a)) {
        json_array_append(argv, a);
        json_array_append(args, a);
    }
    p->config = json_pack("{s:s,s:o}", "cmd", spec->cmd, "args", args);
    json_t *envs_cfg = json_object();
    if (json_is_object(spec->envs))
        json_object_update(envs_cfg, spec->envs);
    json_object_set_new(p->config, "envs", envs_cfg);
    if (spec->cwd)
        json_object_set_new(p->config, "cwd", json_string(spec->cwd));
    char cwd[4096];
    iso_map_path(sb, spec->cwd && spec->cwd[0] ? spec->cwd : "/home/user", cwd, sizeof cwd);

    pthread_mutex_lock(&sb->mu);
    if (sb->state != SBX_RUNNING) {
        pthread_mutex_unlock(&sb->mu);
        json_decref(argv);
        close3(child_in, out_p[1], child_err);
        p->refs = 1;
        if (io == PROC_IO_STREAM) {
            close3(p->out_fd, p->err_fd, -1);
            p->out_fd = p->err_fd = -1;
        }
        proc_unref(p);
        snprintf(code, codesz, "unavailable");
        snprintf(err, errsz, "sandbox %s is not running", sb->id);
        return NULL;
    }
    p->seq = ++sb->spawn_seq;
    p->next = sb->procs;
    sb->procs = p;
    p->linked = true;
    if (sub)
        sub_link(p, sub);
    pthread_mutex_unlock(&sb->mu);

    json_t *msg = json_pack("{s:s,s:I,s:o,s:o,s:s,s:i}", "op", "spawn", "seq", (json_int_t)p->seq,
                            "argv", argv, "env", build_env(sb, spec->envs), "cwd", cwd, "nfds", 3);
    int fds[3] = {child_in, out_p[1], child_err};
    int rc = sandbox_send(sb, msg, fds, 3);
    json_decref(msg);
    close3(child_in, out_p[1], child_err);
    if (rc < 0) {
        pthread_mutex_lock(&sb->mu);
        p->state = PROC_ENDED;
        snprintf(p->error, sizeof p->error, "sandbox init is not reachable: %s", strerror(-rc));
        proc_end_streams(p, true, "unavailable", p->error);
        bool drop = proc_unlink(p);
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&sb->mu);
        if (io == PROC_IO_STREAM) {
            close3(p->out_fd, p->err_fd, -1);
            p->out_fd = p->err_fd = -1;
        }
        if (drop)
            proc_unref(p);
        snprintf(code, codesz, "unavailable");
        snprintf(err, errsz, "%s", p->error);
        proc_unref(p);
        return NULL;
    }
    if (io == PROC_IO_RAW) {
        *raw_in = p->in_fd;
        *raw_out = p->out_fd;
        p->in_fd = -1; /* ownership moves to the caller */
        p->out_fd = -1;
    } else {
        stats_inc("commands_started");
    }
    return p;

sys_fail:
    snprintf(code, codesz, "internal");
    snprintf(err, errsz, "cannot create pipes: %s", strerror(errno));
    close3(in_p[0], in_p[1], out_p[0]);
    close3(out_p[1], err_p[0], err_p[1]);
    if (!spec->stdin_open && child_in >= 0)
        close(child_in);
    if (io == PROC_IO_RAW && child_err >= 0)
        close(child_err);
    return NULL;
}

/* Waits (bounded) for the init's answer to a spawn. */
int proc_wait_started(proc_t *p, int timeout_ms)
{
    sandbox_t *sb = p->sb;
    struct timespec ts;
    time_abs_mono(&ts, timeout_ms);
    pthread_mutex_lock(&sb->mu);
    while (p->state == PROC_STARTING) {
        if (pthread_cond_timedwait(&p->cond, &sb->mu, &ts) != 0)
            break;
    }
    int rc = p->state == PROC_RUNNING ? 0 : -1;
    pthread_mutex_unlock(&sb->mu);
    return rc;
}

/* Selector lookup among running, listed processes. */
proc_t *proc_find(sandbox_t *sb, json_t *selector, char *code, size_t codesz, char *err,
                  size_t errsz)
{
    json_t *jpid = json_object_get(selector, "pid");
    json_t *jtag = json_object_get(selector, "tag");
    if (!json_is_object(selector) || (!jpid && !jtag)) {
        snprintf(code, codesz, "invalid_argument");
        snprintf(err, errsz, "invalid process selector");
        return NULL;
    }
    long long pid = -1;
    if (jpid) {
        if (json_is_integer(jpid))
            pid = json_integer_value(jpid);
        else if (json_is_string(jpid))
            pid = strtoll(json_string_value(jpid), NULL, 10);
    }
    const char *tag = json_string_value(jtag);
    proc_t *found = NULL;
    pthread_mutex_lock(&sb->mu);
    for (proc_t *p = sb->procs; p && !found; p = p->next) {
        if (p->state != PROC_RUNNING || p->hidden)
            continue;
        if ((jpid && p->pid == pid) || (!jpid && tag && p->tag && strcmp(p->tag, tag) == 0)) {
            proc_ref(p);
            found = p;
        }
    }
    pthread_mutex_unlock(&sb->mu);
    if (!found) {
        snprintf(code, codesz, "not_found");
        if (jpid)
            snprintf(err, errsz, "process with pid %lld not found", pid);
        else
            snprintf(err, errsz, "process with tag %s not found", tag ? tag : "");
    }
    return found;
}

/* Asks the init to signal the process group. */
int proc_signal(proc_t *p, int sig)
{
    pthread_mutex_lock(&p->sb->mu);
    int pid = p->state == PROC_RUNNING ? p->pid : 0;
    pthread_mutex_unlock(&p->sb->mu);
    if (pid <= 0)
        return -1;
    json_t *m = json_pack("{s:s,s:i,s:i}", "op", "signal", "pid", pid, "sig", sig);
    int rc = sandbox_send(p->sb, m, NULL, 0);
    json_decref(m);
    return rc < 0 ? -1 : 0;
}

/* Blocking write of the whole buffer to the stdin pipe. */
int proc_write_stdin(proc_t *p, const void *data, size_t n, char *err, size_t errsz)
{
    pthread_mutex_lock(&p->in_mu);
    if (p->in_fd < 0) {
        pthread_mutex_unlock(&p->in_mu);
        snprintf(err, errsz, "stdin not enabled or closed");
        return -1;
    }
    const char *b = data;
    while (n) {
        ssize_t w = write(p->in_fd, b, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            snprintf(err, errsz, "error writing to stdin of process '%d': %s", p->pid,
                     strerror(errno));
            pthread_mutex_unlock(&p->in_mu);
            return -1;
        }
        b += w;
        n -= (size_t)w;
    }
    pthread_mutex_unlock(&p->in_mu);
    return 0;
}

/* Closing the write end gives the process end-of-file on stdin. */
void proc_close_stdin(proc_t *p)
{
    pthread_mutex_lock(&p->in_mu);
    if (p->in_fd >= 0) {
        close(p->in_fd);
        p->in_fd = -1;
    }
    pthread_mutex_unlock(&p->in_mu);
}

/* List: every running, listed process with its configuration. */
json_t *proc_list_json(sandbox_t *sb)
{
    json_t *arr = json_array();
    pthread_mutex_lock(&sb->mu);
    /* an init killed on purpose (pause or resume without memory) takes its
     * processes with it: they are not listed while it exits */
    for (proc_t *p = sb->init_kill_expected ? NULL : sb->procs; p; p = p->next) {
        if (p->state != PROC_RUNNING || p->hidden)
            continue;
        json_t *o = json_pack("{s:O,s:i}", "config", p->config, "pid", p->pid);
        if (p->tag)
            json_object_set_new(o, "tag", json_string(p->tag));
        json_array_append_new(arr, o);
    }
    pthread_mutex_unlock(&sb->mu);
    return json_pack("{s:o}", "processes", arr);
}

/* ---------- I/O thread side ---------- */

/* Finds a process of the sandbox by spawn sequence number (mu held). */
static proc_t *find_seq(sandbox_t *sb, uint64_t seq)
{
    for (proc_t *p = sb->procs; p; p = p->next)
        if (p->seq == seq)
            return p;
    return NULL;
}

/* Finds a running process by pid (mu held). */
static proc_t *find_pid(sandbox_t *sb, int pid)
{
    for (proc_t *p = sb->procs; p; p = p->next)
        if (p->pid == pid && p->state == PROC_RUNNING)
            return p;
    return NULL;
}

/* proc_unref with the signature io_defer() wants. */
static void proc_unref_cb(void *p)
{
    proc_unref(p);
}

/* Unregisters and closes a stream process's pipes (I/O thread).  The I/O
 * thread's reference is dropped only after the current batch of events. */
static void close_pipes(proc_t *p)
{
    if (p->io != PROC_IO_STREAM)
        return;
    if (p->w_out.fd >= 0)
        io_watch_del(&p->w_out);
    if (p->w_err.fd >= 0)
        io_watch_del(&p->w_err);
    if (p->out_fd >= 0)
        close(p->out_fd);
    if (p->err_fd >= 0)
        close(p->err_fd);
    p->out_fd = p->err_fd = -1;
    if (p->io_ref) {
        p->io_ref = false;
        io_defer(proc_unref_cb, p);
    }
}

/* {"op":"spawned"}: the process runs (start event, pipes watched) or failed
 * (the streams end with the init's error). */
void proc_io_spawned(sandbox_t *sb, json_t *msg)
{
    uint64_t seq = (uint64_t)json_integer_value(json_object_get(msg, "seq"));
    const char *error = json_string_value(json_object_get(msg, "error"));
    const char *ecode = json_string_value(json_object_get(msg, "code"));
    int pid = (int)json_integer_value(json_object_get(msg, "pid"));
    pthread_mutex_lock(&sb->mu);
    proc_t *p = find_seq(sb, seq);
    if (!p || p->state != PROC_STARTING) {
        pthread_mutex_unlock(&sb->mu);
        return;
    }
    if (error) {
        p->state = PROC_ENDED;
        snprintf(p->error, sizeof p->error, "%s", error);
        snprintf(p->error_code, sizeof p->error_code, "%s", ecode ? ecode : "internal");
        proc_end_streams(p, true, p->error_code, p->error);
        bool drop = proc_unlink(p);
        pthread_cond_broadcast(&p->cond);
        close_pipes(p);
        pthread_mutex_unlock(&sb->mu);
        if (drop)
            proc_unref(p);
        return;
    }
    p->pid = pid;
    p->state = PROC_RUNNING;
    char ev[96];
    int n = snprintf(ev, sizeof ev, "{\"event\":{\"start\":{\"pid\":%d}}}", pid);
    buf_t b;
    buf_init(&b);
    connect_envelope(&b, CONNECT_FLAG_MESSAGE, ev, (size_t)n);
    proc_broadcast(p, HTTPD_MSG_DATA, &b);
    buf_free(&b);
    pthread_cond_broadcast(&p->cond);
    if (p->io == PROC_IO_STREAM) {
        proc_ref(p); /* the I/O thread's, dropped by close_pipes */
        p->io_ref = true;
        p->w_out.fd = p->out_fd;
        p->w_err.fd = p->err_fd;
        if (io_watch_add(&p->w_out, EPOLLIN) < 0)
            p->w_out.fd = -1;
        if (io_watch_add(&p->w_err, EPOLLIN) < 0)
            p->w_err.fd = -1;
    }
    pthread_mutex_unlock(&sb->mu);
}

/* Encodes one output chunk as {"event":{"data":{"stdout":"<b64>"}}} and
 * queues it on every subscriber; pauses reading when one falls far behind
 * (mu held). */
static void emit_data(proc_t *p, bool is_err, const unsigned char *data, size_t n)
{
    if (!p->subs)
        return;
    const char *pre = is_err ? "{\"event\":{\"data\":{\"stderr\":\"" : "{\"event\":{\"data\":{\"stdout\":\"";
    static const char post[] = "\"}}}";
    size_t plen = strlen(pre);
    size_t blen = b64_encoded_len(n);
    size_t jlen = plen + blen + sizeof post - 1;
    buf_t b;
    buf_init(&b);
    if (buf_reserve(&b, 5 + jlen + 1) < 0)
        return;
    unsigned char *h = (unsigned char *)b.data;
    h[0] = CONNECT_FLAG_MESSAGE;
    h[1] = (unsigned char)(jlen >> 24);
    h[2] = (unsigned char)(jlen >> 16);
    h[3] = (unsigned char)(jlen >> 8);
    h[4] = (unsigned char)jlen;
    memcpy(b.data + 5, pre, plen);
    b64_encode(data, n, b.data + 5 + plen);
    memcpy(b.data + 5 + plen + blen, post, sizeof post - 1);
    b.len = 5 + jlen;
    proc_broadcast(p, HTTPD_MSG_DATA, &b);
    buf_free(&b);
    size_t worst = 0;
    for (sub_t *s = p->subs; s; s = s->next)
        if (s->bytes > worst)
            worst = s->bytes;
    if (worst > BACKPRESSURE_HIGH && !p->reading_paused) {
        p->reading_paused = true;
        if (p->w_out.fd >= 0)
            io_watch_mod(&p->w_out, 0);
        if (p->w_err.fd >= 0)
            io_watch_mod(&p->w_err, 0);
    }
}

/* Reads one chunk from a pipe; returns bytes, 0 at EOF, -1 if nothing. */
static ssize_t read_chunk(int fd, unsigned char *buf, size_t n)
{
    for (;;) {
        ssize_t r = read(fd, buf, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return -1;
        if (r < 0)
            return 0;
        return r;
    }
}

/* A pipe is readable: forward one chunk, or unregister at end of file. */
void proc_io_readable(proc_t *p, io_watch_t *w)
{
    static unsigned char chunk[CHUNK_MAX];
    if (w->fd < 0)
        return;
    ssize_t n = read_chunk(w->fd, chunk, sizeof chunk);
    if (n < 0)
        return;
    sandbox_t *sb = p->sb;
    pthread_mutex_lock(&sb->mu);
    if (n == 0) {
        io_watch_del(w);
        if (w == &p->w_out) {
            close(p->out_fd);
            p->out_fd = -1;
        } else {
            close(p->err_fd);
            p->err_fd = -1;
        }
    } else if (p->state == PROC_RUNNING) {
        emit_data(p, w == &p->w_err, chunk, (size_t)n);
    }
    pthread_mutex_unlock(&sb->mu);
}

/* Reads whatever the exited process left in its pipes (mu held). */
static void drain_after_exit(proc_t *p)
{
    static unsigned char chunk[CHUNK_MAX];
    size_t total = 0;
    for (int which = 0; which < 2; which++) {
        int fd = which == 0 ? p->out_fd : p->err_fd;
        if (fd < 0)
            continue;
        while (total < EXIT_DRAIN_MAX) {
            ssize_t n = read_chunk(fd, chunk, sizeof chunk);
            if (n <= 0)
                break;
            emit_data(p, which == 1, chunk, (size_t)n);
            total += (size_t)n;
        }
    }
}

/* Builds the end event the way envd reports Go's ProcessState:
 * exit code (omitted when 0), exited, "exit status N" / "signal: killed",
 * and error for anything but a clean exit. */
static json_t *end_event(int wstatus)
{
    json_t *end = json_object();
    char status[128];
    if (WIFEXITED(wstatus)) {
        int code = WEXITSTATUS(wstatus);
        if (code)
            json_object_set_new(end, "exitCode", json_integer(code));
        json_object_set_new(end, "exited", json_true());
        snprintf(status, sizeof status, "exit status %d", code);
        json_object_set_new(end, "status", json_string(status));
        if (code)
            json_object_set_new(end, "error", json_string(status));
    } else {
        int sig = WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : SIGKILL;
        char name[64];
        snprintf(name, sizeof name, "%s", strsignal(sig));
        if (name[0] >= 'A' && name[0] <= 'Z')
            name[0] = (char)(name[0] - 'A' + 'a');
        snprintf(status, sizeof status, "signal: %s%s", name,
                 WIFSIGNALED(wstatus) && WCOREDUMP(wstatus) ? " (core dumped)" : "");
        json_object_set_new(end, "exitCode", json_integer(-1));
        json_object_set_new(end, "status", json_string(status));
        json_object_set_new(end, "error", json_string(status));
    }
    return json_pack("{s:{s:o}}", "event", "end", end);
}

/* {"op":"exit"}: drain, then end event + end-of-stream to every listener. */
void proc_io_exit(sandbox_t *sb, json_t *msg)
{
    int pid = (int)json_integer_value(json_object_get(msg, "pid"));
    int wstatus = (int)json_integer_value(json_object_get(msg, "status"));
    pthread_mutex_lock(&sb->mu);
    proc_t *p = find_pid(sb, pid);
    if (!p) {
        pthread_mutex_unlock(&sb->mu);
        return;
    }
    if (p->io == PROC_IO_STREAM)
        drain_after_exit(p);
    p->wstatus = wstatus;
    p->state = PROC_ENDED;
    json_t *ev = end_event(wstatus);
    proc_broadcast_json(p, HTTPD_MSG_FINAL, ev);
    json_decref(ev);
    proc_end_streams(p, true, NULL, NULL);
    bool drop = proc_unlink(p);
    pthread_cond_broadcast(&p->cond);
    close_pipes(p);
    pthread_mutex_unlock(&sb->mu);
    if (p->io == PROC_IO_STREAM)
        stats_inc("commands_finished");
    proc_close_stdin(p);
    if (drop)
        proc_unref(p);
}

/* Re-enables reading after the slow listener caught up (I/O thread). */
void proc_io_resume(proc_t *p)
{
    pthread_mutex_lock(&p->sb->mu);
    p->resume_posted = false;
    if (p->reading_paused) {
        p->reading_paused = false;
        if (p->w_out.fd >= 0)
            io_watch_mod(&p->w_out, EPOLLIN);
        if (p->w_err.fd >= 0)
            io_watch_mod(&p->w_err, EPOLLIN);
    }
    pthread_mutex_unlock(&p->sb->mu);
    proc_unref(p);
}

/* The sandbox is being killed: every open stream ends with an error now;
 * the processes die with the init (mu held). */
void proc_sandbox_dead(sandbox_t *sb, const char *code, const char *message)
{
    for (proc_t *p = sb->procs; p; p = p->next) {
        if (p->state != PROC_ENDED)
            proc_end_streams(p, true, code, message);
        pthread_cond_broadcast(&p->cond);
    }
}

/* The init is gone, so are all processes: end and release them (I/O thread,
 * mu held).  References held by streams keep the objects until they end. */
void proc_release_all(sandbox_t *sb, const char *message)
{
    while (sb->procs) {
        proc_t *p = sb->procs;
        if (p->state != PROC_ENDED) {
            p->state = PROC_ENDED;
            proc_end_streams(p, true, "unavailable", message);
        }
        proc_unlink(p);
        pthread_cond_broadcast(&p->cond);
        close_pipes(p);
        pthread_mutex_lock(&p->in_mu);
        if (p->in_fd >= 0) {
            close(p->in_fd);
            p->in_fd = -1;
        }
        pthread_mutex_unlock(&p->in_mu);
        proc_unref(p); /* the list's reference; the sandbox stays referenced by the caller */
    }
}

/* Start deadlines of processes nobody streams any more: envd's process
 * context carries the Connect-Timeout-Ms deadline, so the process is killed
 * then even after its client went away.  Paused sandboxes wait. */
void proc_tick(void)
{
    int64_t now = time_mono_ms();
    size_t n;
    sandbox_t **all = sandbox_snapshot(&n);
    if (!all)
        return;
    for (size_t i = 0; i < n; i++) {
        sandbox_t *sb = all[i];
        proc_t *due[64];
        size_t k = 0;
        pthread_mutex_lock(&sb->mu);
        if (sb->state == SBX_RUNNING)
            for (proc_t *p = sb->procs; p && k < sizeof due / sizeof due[0]; p = p->next)
                if (p->kill_at_ms && now >= p->kill_at_ms && p->state == PROC_RUNNING) {
                    p->kill_at_ms = 0;
                    proc_ref(p);
                    due[k++] = p;
                }
        pthread_mutex_unlock(&sb->mu);
        for (size_t j = 0; j < k; j++) {
            proc_signal(due[j], SIGKILL);
            stats_inc("commands_deadline_killed");
            proc_unref(due[j]);
        }
    }
    sandbox_snapshot_free(all, n);
}
