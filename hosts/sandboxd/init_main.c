/*
 * init_main.c - sandboxd-init, the first process of every sandbox.
 *
 * sandboxd starts one per sandbox, lazily, when the sandbox runs its first
 * command.  With bubblewrap it runs as PID 1 of the sandbox's own PID
 * namespace (bwrap --as-pid-1), so when it exits the kernel kills every
 * process of the sandbox; without bubblewrap ("fallback") it is a child of
 * sandboxd that marks itself child subreaper and kills its whole tree of
 * descendants before exiting.
 *
 * It receives spawn/signal/freeze requests from sandboxd over the socket
 * given with --fd (see initproto.h), forks and execs the commands with the
 * descriptors sandboxd passed, reports pids and exit statuses, and reaps
 * every orphan.  It is deliberately small: no threads, one poll loop.
 *
 * Usage: sandboxd-init --fd N [--fallback]
 *        sandboxd-init --probe        (exit 0: used to test bwrap at startup)
 */
#include "initproto.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* How this init relates to the processes it must clean up. */
typedef enum {
    INIT_NAMESPACE = 0, /* PID 1 of a PID namespace: exiting kills everything */
    INIT_FALLBACK,      /* plain child of sandboxd: must kill descendants itself */
} init_mode_t;

/* One command started through a spawn request (a direct child). */
typedef struct child {
    struct child *next;
    pid_t pid;
} child_t;

/* Why a spawn failed, sent from the forked child through a CLOEXEC pipe. */
typedef struct spawn_err {
    int stage; /* 1 = chdir, 2 = exec */
    int err;   /* errno */
} spawn_err_t;

static int g_ctl = -1;
static init_mode_t g_mode = INIT_NAMESPACE;
static child_t *g_children;

/* Sends a reply frame; failures mean sandboxd is gone, which the poll loop
 * notices as end of file on the socket. */
static void reply(json_t *msg)
{
    initp_send(g_ctl, msg, NULL, 0);
    json_decref(msg);
}

/* Remembers a spawned command. */
static void child_add(pid_t pid)
{
    child_t *c = calloc(1, sizeof *c);
    if (!c)
        return;
    c->pid = pid;
    c->next = g_children;
    g_children = c;
}

/* Forgets a command; returns 1 if it was one of ours. */
static int child_remove(pid_t pid)
{
    for (child_t **p = &g_children; *p; p = &(*p)->next) {
        if ((*p)->pid == pid) {
            child_t *c = *p;
            *p = c->next;
            free(c);
            return 1;
        }
    }
    return 0;
}

/* True if pid is a command we spawned and has not ended. */
static int child_known(pid_t pid)
{
    for (child_t *c = g_children; c; c = c->next)
        if (c->pid == pid)
            return 1;
    return 0;
}

/* Copies a JSON array of strings into a NULL-terminated vector. */
static char **strv_from_json(json_t *arr)
{
    size_t n = json_is_array(arr) ? json_array_size(arr) : 0;
    char **v = calloc(n + 1, sizeof *v);
    if (!v)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        const char *s = json_string_value(json_array_get(arr, i));
        v[i] = (char *)(s ? s : "");
    }
    return v;
}

/* Go spells errno texts in lower case ("no such file or directory"); envd's
 * messages come from Go, so ours follow suit. */
static void lower_strerror(int err, char *out, size_t n)
{
    snprintf(out, n, "%s", strerror(err));
    if (out[0] >= 'A' && out[0] <= 'Z')
        out[0] = (char)(out[0] - 'A' + 'a');
}

/* Child side of a spawn: new session (so the command's whole group can be
 * signalled), descriptors onto 0/1/2, cwd, then exec.  Any failure is
 * reported through `errfd` and the child exits 127. */
static void exec_child(int in_fd, int out_fd, int err_fd, int errfd, const char *cwd,
                       char **argv, char **envp)
{
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    setsid();
    int fds[3] = {in_fd, out_fd, err_fd};
    for (int i = 0; i < 3; i++) {
        int d = fcntl(fds[i], F_DUPFD_CLOEXEC, 10);
        fds[i] = d;
    }
    for (int i = 0; i < 3; i++) {
        if (fds[i] < 0 || dup2(fds[i], i) < 0)
            _exit(127);
    }
    syscall(SYS_close_range, 3, ~0U, 4 /* CLOSE_RANGE_CLOEXEC */);
    spawn_err_t se = {0, 0};
    if (cwd && cwd[0] && chdir(cwd) < 0) {
        se.stage = 1;
        se.err = errno;
        ssize_t w = write(errfd, &se, sizeof se);
        (void)w;
        _exit(127);
    }
    environ = envp;
    execvp(argv[0], argv);
    se.stage = 2;
    se.err = errno;
    ssize_t w = write(errfd, &se, sizeof se);
    (void)w;
    _exit(127);
}

/* Handles {"op":"spawn"}: forks, waits for exec to succeed or fail (the
 * CLOEXEC pipe closes on success), and replies with the pid or an error
 * worded like envd's. */
static void do_spawn(json_t *msg, initp_reader_t *rd)
{
    json_int_t seq = json_integer_value(json_object_get(msg, "seq"));
    int nfds = (int)json_integer_value(json_object_get(msg, "nfds"));
    int fds[INITP_MAX_FDS] = {-1, -1, -1, -1};
    if (nfds != 3 || initp_take_fds(rd, fds, 3) < 0) {
        reply(json_pack("{s:s,s:I,s:s,s:s}", "op", "spawned", "seq", seq, "error",
                        "internal error: descriptors missing", "code", "internal"));
        return;
    }
    const char *cwd = json_string_value(json_object_get(msg, "cwd"));
    char **argv = strv_from_json(json_object_get(msg, "argv"));
    char **envp = strv_from_json(json_object_get(msg, "env"));
    int ep[2] = {-1, -1};
    if (!argv || !envp || !argv[0] || pipe2(ep, O_CLOEXEC) < 0) {
        reply(json_pack("{s:s,s:I,s:s,s:s}", "op", "spawned", "seq", seq, "error",
                        "internal error: cannot prepare process", "code", "internal"));
        goto out;
    }
    pid_t pid = fork();
    if (pid == 0)
        exec_child(fds[0], fds[1], fds[2], ep[1], cwd, argv, envp);
    close(ep[1]);
    ep[1] = -1;
    if (pid < 0) {
        char e[128];
        lower_strerror(errno, e, sizeof e);
        reply(json_pack("{s:s,s:I,s:s,s:s}", "op", "spawned", "seq", seq, "error", e, "code",
                        "internal"));
        goto out;
    }
    spawn_err_t se;
    ssize_t n;
    do {
        n = read(ep[0], &se, sizeof se);
    } while (n < 0 && errno == EINTR);
    if (n == (ssize_t)sizeof se) {
        int st;
        waitpid(pid, &st, 0);
        char e[128], m[1024];
        lower_strerror(se.err, e, sizeof e);
        if (se.stage == 1 && se.err == ENOENT)
            snprintf(m, sizeof m, "cwd '%s' does not exist", cwd);
        else if (se.stage == 1)
            snprintf(m, sizeof m, "cannot use cwd '%s': %s", cwd, e);
        else
            snprintf(m, sizeof m, "error starting process '%s': fork/exec %s: %s", argv[0],
                     argv[0], e);
        reply(json_pack("{s:s,s:I,s:s,s:s}", "op", "spawned", "seq", seq, "error", m, "code",
                        "invalid_argument"));
        goto out;
    }
    child_add(pid);
    reply(json_pack("{s:s,s:I,s:i}", "op", "spawned", "seq", seq, "pid", (int)pid));
out:
    for (int i = 0; i < 3; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    if (ep[0] >= 0)
        close(ep[0]);
    free(argv);
    free(envp);
}

/* Handles {"op":"signal"}: the whole process group of a command, so that a
 * kill also reaches the command's own children. */
static void do_signal(json_t *msg)
{
    pid_t pid = (pid_t)json_integer_value(json_object_get(msg, "pid"));
    int sig = (int)json_integer_value(json_object_get(msg, "sig"));
    if (pid <= 1 || sig <= 0 || sig >= NSIG || !child_known(pid))
        return;
    if (kill(-pid, sig) < 0)
        kill(pid, sig);
}

/* Handles freeze/thaw: every process of the sandbox (namespace mode: all
 * processes but ourselves; fallback: the groups of our commands). */
static void do_freeze(int sig)
{
    if (g_mode == INIT_NAMESPACE) {
        kill(-1, sig);
        return;
    }
    for (child_t *c = g_children; c; c = c->next)
        if (kill(-c->pid, sig) < 0)
            kill(c->pid, sig);
}

/* Reaps every exited child; reports the ones that were commands. */
static void reap(void)
{
    for (;;) {
        int st;
        pid_t pid = waitpid(-1, &st, WNOHANG);
        if (pid <= 0)
            return;
        if (child_remove(pid))
            reply(json_pack("{s:s,s:i,s:i}", "op", "exit", "pid", (int)pid, "status", st));
    }
}

/* Kills every direct child (and its group) listed in
 * /proc/self/task/<pid>/children; orphans re-parent to us because we are a
 * child subreaper, so repeated sweeps reach the whole tree. */
static int sweep_children(void)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%d/children", (int)getpid());
    FILE *f = fopen(path, "r");
    int n = 0;
    if (f) {
        int pid;
        while (fscanf(f, "%d", &pid) == 1) {
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            n++;
        }
        fclose(f);
    }
    return n;
}

/* Ends the sandbox.  In a PID namespace our exit takes every process with
 * us.  In fallback mode the process groups of all commands are killed, then
 * the remaining descendants are swept until none is left (at most ~3 s). */
static void shutdown_all(void)
{
    if (g_mode == INIT_FALLBACK) {
        for (child_t *c = g_children; c; c = c->next) {
            kill(-c->pid, SIGKILL);
            kill(c->pid, SIGKILL);
        }
        for (int i = 0; i < 60; i++) {
            sweep_children();
            int st;
            while (waitpid(-1, &st, WNOHANG) > 0) {
            }
            if (waitpid(-1, &st, WNOHANG) < 0 && errno == ECHILD)
                break;
            struct timespec ts = {0, 50 * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    _exit(0);
}

/* Parses and executes every complete frame in the reader. */
static void handle_frames(initp_reader_t *rd)
{
    for (;;) {
        bool bad;
        json_t *msg = initp_next(rd, &bad);
        if (bad)
            shutdown_all();
        if (!msg)
            return;
        const char *op = json_string_value(json_object_get(msg, "op"));
        if (!op)
            op = "";
        if (strcmp(op, "spawn") == 0)
            do_spawn(msg, rd);
        else if (strcmp(op, "signal") == 0)
            do_signal(msg);
        else if (strcmp(op, "freeze") == 0)
            do_freeze(SIGSTOP);
        else if (strcmp(op, "thaw") == 0)
            do_freeze(SIGCONT);
        json_decref(msg);
    }
}

/* Argument parsing, signal setup and the poll loop. */
int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--probe") == 0)
            return 0;
        if (strcmp(argv[i], "--fd") == 0 && i + 1 < argc)
            g_ctl = atoi(argv[++i]);
        else if (strcmp(argv[i], "--fallback") == 0)
            g_mode = INIT_FALLBACK;
    }
    if (g_ctl < 0) {
        fprintf(stderr, "usage: sandboxd-init --fd N [--fallback] | --probe\n");
        return 2;
    }
    fcntl(g_ctl, F_SETFD, FD_CLOEXEC);
    signal(SIGPIPE, SIG_IGN);
    if (g_mode == INIT_FALLBACK) {
        prctl(PR_SET_CHILD_SUBREAPER, 1);
        prctl(PR_SET_PDEATHSIG, SIGTERM);
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_BLOCK, &set, NULL);
    int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sfd < 0)
        return 1;
    if (g_mode == INIT_FALLBACK && getppid() == 1)
        shutdown_all(); /* sandboxd died before PDEATHSIG was armed */

    initp_reader_t rd;
    initp_reader_init(&rd);
    reply(json_pack("{s:s}", "op", "ready"));
    for (;;) {
        struct pollfd pf[2] = {{.fd = g_ctl, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
        if (poll(pf, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            shutdown_all();
        }
        if (pf[1].revents & POLLIN) {
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
                if (si.ssi_signo == SIGCHLD)
                    reap();
                else
                    shutdown_all();
            }
        }
        if (pf[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            int n = initp_read(g_ctl, &rd);
            if (n == 0 || n == -2)
                shutdown_all();
            handle_frames(&rd);
        }
    }
}
