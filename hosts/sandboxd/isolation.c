/* isolation.c - bubblewrap probing and init spawning (see isolation.h). */
#include "isolation.h"

#include "config.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static iso_mode_t g_mode = ISO_NONE;
static char g_init[PATH_MAX];
static char g_etc[PATH_MAX - 64]; /* directory with passwd/group overlays */
static char g_user[64] = "root";
static char g_describe[256];

/* The isolation mode chosen at startup. */
iso_mode_t iso_mode(void)
{
    return g_mode;
}

/* Human-readable isolation mode (logged, and returned by GET /health). */
const char *iso_describe(void)
{
    return g_describe;
}

/* Name of the user commands run as, for HOME/USER and file owners. */
const char *iso_user(void)
{
    return g_user;
}

/* pidfd_open(2) without a libc wrapper. */
static int pidfd_open_(pid_t pid)
{
#ifdef SYS_pidfd_open
    return (int)syscall(SYS_pidfd_open, pid, 0);
#else
    (void)pid;
    errno = ENOSYS;
    return -1;
#endif
}

/* pidfd_send_signal(2) when we have a pidfd (no pid-reuse race), kill(2)
 * otherwise. */
int iso_pidfd_signal(int pidfd, pid_t pid, int sig)
{
#ifdef SYS_pidfd_send_signal
    if (pidfd >= 0)
        return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
#endif
    return pid > 0 ? kill(pid, sig) : -1;
}

/* Finds sandboxd-init: --init, else next to our own executable. */
static int locate_init(void)
{
    if (g_cfg.init_path) {
        snprintf(g_init, sizeof g_init, "%s", g_cfg.init_path);
    } else {
        char self[PATH_MAX - 64];
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n < 0)
            return -1;
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash)
            *slash = '\0';
        snprintf(g_init, sizeof g_init, "%s/sandboxd-init", self);
    }
    if (access(g_init, X_OK) < 0) {
        log_error("sandboxd-init not found or not executable at %s (build it with make -C sandboxd, "
                  "or pass --init PATH)", g_init);
        return -1;
    }
    return 0;
}

/* Writes /etc/passwd and /etc/group overlays where uid/gid 1000 is "user"
 * with home /home/user, as in E2B's templates; other host entries stay. */
static int write_overlays(const char *data_dir)
{
    snprintf(g_etc, sizeof g_etc, "%s/.sandboxd-etc", data_dir);
    if (mkdir(g_etc, 0755) < 0 && errno != EEXIST)
        return -1;
    const char *files[2][3] = {{"/etc/passwd", "passwd", "user:x:1000:1000:E2B sandbox user:/home/user:/bin/bash\n"},
                               {"/etc/group", "group", "user:x:1000:\n"}};
    for (int i = 0; i < 2; i++) {
        char out[PATH_MAX + 16];
        snprintf(out, sizeof out, "%s/%s", g_etc, files[i][1]);
        FILE *in = fopen(files[i][0], "r");
        FILE *o = fopen(out, "w");
        if (!o) {
            if (in)
                fclose(in);
            return -1;
        }
        char line[4096];
        while (in && fgets(line, sizeof line, in)) {
            char copy[4096];
            snprintf(copy, sizeof copy, "%s", line);
            char *save = NULL;
            char *name = strtok_r(copy, ":", &save);
            strtok_r(NULL, ":", &save);
            char *id = strtok_r(NULL, ":", &save);
            if (!name || !id || strcmp(name, "user") == 0 || strcmp(id, "1000") == 0)
                continue;
            fputs(line, o);
        }
        fputs(files[i][2], o);
        if (in)
            fclose(in);
        if (fclose(o) != 0)
            return -1;
    }
    return 0;
}

/* Appends one argument to a bounded argv. */
static void add_arg(char **argv, int *n, int max, const char *a)
{
    if (*n < max - 1)
        argv[(*n)++] = (char *)a;
    argv[*n] = NULL;
}

/* Builds the bubblewrap command line for a sandbox rooted at `root`
 * (strings in `store` stay valid while it lives). */
static int bwrap_argv(char **argv, int max, char store[][PATH_MAX], bool userns, const char *root,
                      const char *const *tail)
{
    int n = 0;
    int s = 0;
    add_arg(argv, &n, max, g_cfg.bwrap);
    add_arg(argv, &n, max, "--die-with-parent");
    add_arg(argv, &n, max, "--unshare-pid");
    add_arg(argv, &n, max, "--unshare-ipc");
    add_arg(argv, &n, max, "--unshare-uts");
    add_arg(argv, &n, max, "--hostname");
    add_arg(argv, &n, max, "e2b.local");
    if (userns) {
        add_arg(argv, &n, max, "--unshare-user");
        add_arg(argv, &n, max, "--uid");
        add_arg(argv, &n, max, "1000");
        add_arg(argv, &n, max, "--gid");
        add_arg(argv, &n, max, "1000");
    }
    add_arg(argv, &n, max, "--as-pid-1");
    add_arg(argv, &n, max, "--ro-bind");
    add_arg(argv, &n, max, "/usr");
    add_arg(argv, &n, max, "/usr");
    static const char *tops[] = {"bin", "sbin", "lib", "lib32", "lib64", "libx32"};
    for (size_t i = 0; i < sizeof tops / sizeof tops[0]; i++) {
        char host[64];
        snprintf(host, sizeof host, "/%s", tops[i]);
        struct stat st;
        if (lstat(host, &st) < 0)
            continue;
        if (S_ISLNK(st.st_mode)) {
            ssize_t k = readlink(host, store[s], PATH_MAX - 1);
            if (k <= 0)
                continue;
            store[s][k] = '\0';
            snprintf(store[s + 1], PATH_MAX, "%s", host);
            add_arg(argv, &n, max, "--symlink");
            add_arg(argv, &n, max, store[s]);
            add_arg(argv, &n, max, store[s + 1]);
            s += 2;
        } else if (S_ISDIR(st.st_mode)) {
            snprintf(store[s], PATH_MAX, "%s", host);
            add_arg(argv, &n, max, "--ro-bind");
            add_arg(argv, &n, max, store[s]);
            add_arg(argv, &n, max, store[s]);
            s++;
        }
    }
    add_arg(argv, &n, max, "--ro-bind");
    add_arg(argv, &n, max, "/etc");
    add_arg(argv, &n, max, "/etc");
    if (userns) {
        snprintf(store[s], PATH_MAX, "%s/passwd", g_etc);
        snprintf(store[s + 1], PATH_MAX, "%s/group", g_etc);
        add_arg(argv, &n, max, "--ro-bind");
        add_arg(argv, &n, max, store[s]);
        add_arg(argv, &n, max, "/etc/passwd");
        add_arg(argv, &n, max, "--ro-bind");
        add_arg(argv, &n, max, store[s + 1]);
        add_arg(argv, &n, max, "/etc/group");
        s += 2;
    }
    add_arg(argv, &n, max, "--ro-bind-try");
    add_arg(argv, &n, max, "/opt");
    add_arg(argv, &n, max, "/opt");
    add_arg(argv, &n, max, "--ro-bind-try");
    add_arg(argv, &n, max, "/var");
    add_arg(argv, &n, max, "/var");
    add_arg(argv, &n, max, "--proc");
    add_arg(argv, &n, max, "/proc");
    add_arg(argv, &n, max, "--dev");
    add_arg(argv, &n, max, "/dev");
    add_arg(argv, &n, max, "--tmpfs");
    add_arg(argv, &n, max, "/run");
    add_arg(argv, &n, max, "--dir");
    add_arg(argv, &n, max, "/home");
    snprintf(store[s], PATH_MAX, "%s/home/user", root);
    snprintf(store[s + 1], PATH_MAX, "%s/tmp", root);
    add_arg(argv, &n, max, "--bind");
    add_arg(argv, &n, max, store[s]);
    add_arg(argv, &n, max, "/home/user");
    add_arg(argv, &n, max, "--bind");
    add_arg(argv, &n, max, store[s + 1]);
    add_arg(argv, &n, max, "/tmp");
    add_arg(argv, &n, max, "--ro-bind");
    add_arg(argv, &n, max, g_init);
    add_arg(argv, &n, max, "/run/sandboxd-init");
    add_arg(argv, &n, max, "--chdir");
    add_arg(argv, &n, max, "/home/user");
    for (int i = 0; tail[i]; i++)
        add_arg(argv, &n, max, tail[i]);
    return n;
}

/* posix_spawn with a clean signal state, its own session, /dev/null on
 * stdin, our stderr on stdout and stderr (or `err_fd`), and `ctl` as fd 3.
 * Everything else is closed. */
static int spawn(char **argv, int ctl, int err_fd, const char *cwd, pid_t *pid)
{
    static char *envp[] = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", NULL};
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    sigdelset(&all, SIGKILL);
    sigdelset(&all, SIGSTOP);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &all);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSID);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, err_fd >= 0 ? err_fd : 2, 1);
    if (err_fd >= 0)
        posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
    if (ctl >= 0)
        posix_spawn_file_actions_adddup2(&fa, ctl, 3);
    posix_spawn_file_actions_addclosefrom_np(&fa, ctl >= 0 ? 4 : 3);
    if (cwd)
        posix_spawn_file_actions_addchdir_np(&fa, cwd);
    int rc = posix_spawn(pid, argv[0], &fa, &at, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    return rc;
}

/* Runs bubblewrap once with the init's --probe flag on a scratch root; the
 * first lines of bwrap's stderr explain a failure. */
static int probe_bwrap(const char *data_dir, bool userns, char *why, size_t whysz)
{
    char root[PATH_MAX], p[PATH_MAX + 32];
    snprintf(root, sizeof root, "%s/.probe", data_dir);
    mkdir(root, 0755);
    snprintf(p, sizeof p, "%s/home", root);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/home/user", root);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/tmp", root);
    mkdir(p, 01777);
    char *argv[160];
    static char store[32][PATH_MAX];
    const char *tail[] = {"/run/sandboxd-init", "--probe", NULL};
    bwrap_argv(argv, 160, store, userns, root, tail);
    int ep[2];
    if (pipe2(ep, O_CLOEXEC) < 0)
        return -1;
    pid_t pid;
    int rc = spawn(argv, -1, ep[1], NULL, &pid);
    close(ep[1]);
    if (rc != 0) {
        close(ep[0]);
        snprintf(why, whysz, "cannot execute %s: %s", g_cfg.bwrap, strerror(rc));
        return -1;
    }
    char out[512];
    ssize_t n = read(ep[0], out, sizeof out - 1);
    close(ep[0]);
    out[n > 0 ? n : 0] = '\0';
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    char *nl = strchr(out, '\n');
    if (nl)
        *nl = '\0';
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return 0;
    snprintf(why, whysz, "%s", out[0] ? out : "bwrap failed");
    return -1;
}

/* Reaps whatever exited; the tracked inits' own exits are noticed through
 * their pidfds, which stay readable after the process was reaped. */
int iso_reap_strays(void)
{
    int n = 0, st;
    while (waitpid(-1, &st, WNOHANG | __WALL) > 0)
        n++;
    return n;
}

/* Chooses the isolation mode and announces a fallback loudly.  Also makes
 * sandboxd a child subreaper, so that killing a bwrap never leaves its
 * sandbox init as a zombie under a PID 1 that does not reap. */
int iso_init(const char *data_dir)
{
    if (locate_init() < 0)
        return -1;
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
        log_warn("cannot become a child subreaper: %s", strerror(errno));
    if (write_overlays(data_dir) < 0)
        log_warn("cannot write /etc/passwd overlay under %s: %s", data_dir, strerror(errno));
    char why[512] = "disabled with --no-bwrap";
    if (!g_cfg.no_bwrap) {
        if (!g_cfg.no_userns && probe_bwrap(data_dir, true, why, sizeof why) == 0) {
            g_mode = ISO_BWRAP_USERNS;
            snprintf(g_user, sizeof g_user, "user");
            snprintf(g_describe, sizeof g_describe,
                     "bubblewrap (pid/ipc/uts/user namespaces, uid 1000 \"user\")");
            return 0;
        }
        if (probe_bwrap(data_dir, false, why, sizeof why) == 0) {
            g_mode = ISO_BWRAP;
            snprintf(g_user, sizeof g_user, "root");
            snprintf(g_describe, sizeof g_describe,
                     "bubblewrap (pid/ipc/uts namespaces, no user namespace: commands run as root)");
            return 0;
        }
    }
    g_mode = ISO_NONE;
    struct passwd *pw = getpwuid(geteuid());
    snprintf(g_user, sizeof g_user, "%s", pw ? pw->pw_name : "root");
    snprintf(g_describe, sizeof g_describe, "NONE (plain processes in per-sandbox directories)");
    log_warn("**************************************************************************");
    log_warn("* bubblewrap is NOT in use (%s).", why);
    log_warn("* Sandbox commands run as ordinary host processes (user %s) with HOME and", g_user);
    log_warn("* TMPDIR in the sandbox's directory; /home/user and /tmp in paths given to the");
    log_warn("* API are mapped, paths inside commands are not. There is NO isolation.");
    log_warn("**************************************************************************");
    return 0;
}

/* Spawns the init: inside bwrap (PID 1 of a new PID namespace) or, in
 * fallback mode, directly with the sandbox root as working directory. */
int iso_spawn_init(sandbox_t *sb, int *ctl_fd, pid_t *pid, int *pidfd, char *err, size_t errsz)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        snprintf(err, errsz, "socketpair: %s", strerror(errno));
        return -1;
    }
    if (sv[1] == 3) {
        int d = fcntl(sv[1], F_DUPFD_CLOEXEC, 10);
        close(sv[1]);
        sv[1] = d;
    }
    char *argv[160];
    static char store[32][PATH_MAX]; /* I/O thread only */
    int rc;
    if (g_mode == ISO_NONE) {
        argv[0] = g_init;
        argv[1] = "--fd";
        argv[2] = "3";
        argv[3] = "--fallback";
        argv[4] = NULL;
        rc = spawn(argv, sv[1], -1, sb->root, pid);
    } else {
        const char *tail[] = {"/run/sandboxd-init", "--fd", "3", NULL};
        bwrap_argv(argv, 160, store, g_mode == ISO_BWRAP_USERNS, sb->root, tail);
        rc = spawn(argv, sv[1], -1, NULL, pid);
    }
    close(sv[1]);
    if (rc != 0) {
        close(sv[0]);
        snprintf(err, errsz, "cannot execute %s: %s", argv[0], strerror(rc));
        return -1;
    }
    *pidfd = pidfd_open_(*pid);
    if (*pidfd < 0) {
        snprintf(err, errsz, "pidfd_open: %s", strerror(errno));
        kill(*pid, SIGKILL);
        waitpid(*pid, NULL, 0);
        close(sv[0]);
        return -1;
    }
    fcntl(*pidfd, F_SETFD, FD_CLOEXEC);
    *ctl_fd = sv[0];
    return 0;
}

/* True if `path` is `dir` or below it. */
static bool under(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* In fallback mode /home/user and /tmp live under the sandbox root. */
void iso_map_path(const sandbox_t *sb, const char *path, char *out, size_t outsz)
{
    if (g_mode == ISO_NONE && path[0] == '/' && (under(path, "/home/user") || under(path, "/tmp")))
        snprintf(out, outsz, "%s%s", sb->root, path);
    else if (g_mode == ISO_NONE && path[0] != '/')
        snprintf(out, outsz, "%s/home/user/%s", sb->root, path);
    else if (path[0] != '/')
        snprintf(out, outsz, "/home/user/%s", path);
    else
        snprintf(out, outsz, "%s", path);
}
