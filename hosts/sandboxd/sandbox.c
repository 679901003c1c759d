/* sandbox.c - sandbox objects, the live-sandbox table, deadlines and the
 * init control channel (see sandbox.h). */
#include "sandbox.h"

#include "interp.h"
#include "iothread.h"
#include "isolation.h"
#include "janitor.h"
#include "log.h"
#include "proc.h"
#include "stats.h"
#include "timeutil.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define NBUCKETS 4096

static pthread_mutex_t g_tab = PTHREAD_MUTEX_INITIALIZER;
static sandbox_t *g_buckets[NBUCKETS];
static sandbox_t *g_head, *g_tail;     /* creation order */
static int g_running, g_paused, g_reserved;
static int g_max_running;
static uint64_t g_seq;
static char *g_data_dir;
static int g_cleanup_pending;          /* inits not yet reaped (atomic) */
static sandbox_t *g_inits;             /* sandboxes owning an init (I/O thread only) */

/* FNV-1a over the ID. */
static unsigned bucket_of(const char *id)
{
    uint32_t h = 2166136261u;
    for (const char *p = id; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    return h % NBUCKETS;
}

/* Gauge callbacks for /admin/stats. */
static int64_t gauge_running(void *arg)
{
    (void)arg;
    return sandbox_count(SBX_RUNNING);
}

/* Gauge: paused sandboxes. */
static int64_t gauge_paused(void *arg)
{
    (void)arg;
    return sandbox_count(SBX_PAUSED);
}

/* Gauge: running plus paused sandboxes. */
static int64_t gauge_live(void *arg)
{
    (void)arg;
    return sandbox_count(SBX_RUNNING) + sandbox_count(SBX_PAUSED);
}

/* Remembers the limit and data directory and registers the gauges. */
int sandbox_table_init(int max_running, const char *data_dir)
{
    g_max_running = max_running;
    g_data_dir = strdup(data_dir);
    stats_register_gauge("sandboxes_live", gauge_live, NULL);
    stats_register_gauge("sandboxes_running", gauge_running, NULL);
    stats_register_gauge("sandboxes_paused", gauge_paused, NULL);
    stats_add("sandboxes_created", 0);
    stats_add("sandboxes_killed", 0);
    stats_add("sandboxes_expired", 0);
    return g_data_dir ? 0 : -1;
}

/* Takes a reference (table, lookup, process, I/O thread). */
void sandbox_ref(sandbox_t *sb)
{
    __atomic_add_fetch(&sb->refs, 1, __ATOMIC_RELAXED);
}

/* The last reference frees the object; by then it is out of the table and
 * has no init, processes or contexts left. */
void sandbox_unref(sandbox_t *sb)
{
    if (!sb || __atomic_sub_fetch(&sb->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    if (sb->root_fd >= 0)
        close(sb->root_fd);
    interp_free_contexts(sb);
    initp_reader_free(&sb->init_rd);
    json_decref(sb->metadata);
    json_decref(sb->env_vars);
    json_decref(sb->network);
    free(sb->mring);
    pthread_mutex_destroy(&sb->mu);
    pthread_mutex_destroy(&sb->init_wmu);
    pthread_cond_destroy(&sb->cond);
    free(sb->dir);
    free(sb->root);
    free(sb);
}

/* mkdir that treats "already exists" as failure (IDs are fresh). */
static int mkdir_mode(const char *path, mode_t mode)
{
    if (mkdir(path, mode) < 0)
        return -1;
    return chmod(path, mode);
}

/* Builds <data>/<id>/root/{home/user,tmp}: the whole cost of a new sandbox. */
static int make_dirs(sandbox_t *sb)
{
    size_t n = strlen(g_data_dir) + strlen(sb->id) + 2;
    sb->dir = malloc(n);
    sb->root = malloc(n + 5);
    if (!sb->dir || !sb->root)
        return -1;
    snprintf(sb->dir, n, "%s/%s", g_data_dir, sb->id);
    snprintf(sb->root, n + 5, "%s/root", sb->dir);
    char p[4096];
    if (mkdir_mode(sb->dir, 0755) < 0 || mkdir_mode(sb->root, 0755) < 0)
        return -1;
    snprintf(p, sizeof p, "%s/home", sb->root);
    if (mkdir_mode(p, 0755) < 0)
        return -1;
    snprintf(p, sizeof p, "%s/home/user", sb->root);
    if (mkdir_mode(p, 0755) < 0)
        return -1;
    snprintf(p, sizeof p, "%s/tmp", sb->root);
    if (mkdir_mode(p, 01777) < 0)
        return -1;
    sb->root_fd = open(sb->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    return sb->root_fd < 0 ? -1 : 0;
}

/* Inserts into the hash and the creation-order list (table lock held). */
static void table_insert(sandbox_t *sb)
{
    unsigned b = bucket_of(sb->id);
    sb->hnext = g_buckets[b];
    g_buckets[b] = sb;
    sb->lprev = g_tail;
    sb->lnext = NULL;
    if (g_tail)
        g_tail->lnext = sb;
    else
        g_head = sb;
    g_tail = sb;
    sb->in_table = true;
}

/* Removes from the hash and the list (table lock held). */
static void table_remove(sandbox_t *sb)
{
    unsigned b = bucket_of(sb->id);
    for (sandbox_t **pp = &g_buckets[b]; *pp; pp = &(*pp)->hnext) {
        if (*pp == sb) {
            *pp = sb->hnext;
            break;
        }
    }
    if (sb->lprev)
        sb->lprev->lnext = sb->lnext;
    else
        g_head = sb->lnext;
    if (sb->lnext)
        sb->lnext->lprev = sb->lprev;
    else
        g_tail = sb->lprev;
    sb->in_table = false;
}

/* Reserves a slot under the limit, makes the directories outside the lock,
 * then publishes the sandbox. */
sandbox_t *sandbox_create(const sbx_create_t *p, int *status, char *msg, size_t msgsz)
{
    pthread_mutex_lock(&g_tab);
    if (g_running + g_reserved >= g_max_running) {
        pthread_mutex_unlock(&g_tab);
        *status = 429;
        snprintf(msg, msgsz,
                 "you have reached the maximum number of concurrent E2B sandboxes (%d). If you "
                 "need more, please contact us at 'https://e2b.dev/docs/getting-help'",
                 g_max_running);
        stats_inc("sandboxes_rejected_limit");
        return NULL;
    }
    g_reserved++;
    pthread_mutex_unlock(&g_tab);

    sandbox_t *sb = calloc(1, sizeof *sb);
    if (!sb)
        goto fail;
    sb->refs = 2; /* table + caller */
    sb->root_fd = -1;
    sb->init_fd = -1;
    sb->init_pidfd = -1;
    sb->w_ctl = (io_watch_t){IOW_INIT_CTL, -1, sb};
    sb->w_pid = (io_watch_t){IOW_INIT_PID, -1, sb};
    initp_reader_init(&sb->init_rd);
    pthread_mutex_init(&sb->mu, NULL);
    pthread_mutex_init(&sb->init_wmu, NULL);
    time_cond_init(&sb->cond);
    ids_sandbox(sb->id);
    if (p->secure)
        ids_hex(sb->token, 32);
    if (p->traffic_token)
        ids_hex(sb->traffic_token, 32);
    sb->network = p->network ? json_deep_copy(p->network) : NULL;
    sb->allow_internet = p->allow_internet;
    sb->auto_pause_memory = p->auto_pause_memory;
    sb->auto_resume = p->auto_resume;
    sb->auto_resume_timeout_s = p->auto_resume_timeout_s;
    sb->tmpl = p->tmpl;
    sb->metadata = p->metadata ? json_deep_copy(p->metadata) : json_object();
    sb->env_vars = p->env_vars ? json_deep_copy(p->env_vars) : json_object();
    sb->auto_pause = p->auto_pause;
    sb->started_ms = time_now_ms();
    sb->cpu_prev_ms = time_mono_ms();
    sb->end_ms = sb->started_ms + (int64_t)p->timeout_s * 1000;
    if (make_dirs(sb) < 0) {
        log_error("cannot create sandbox directory under %s: %s", g_data_dir, strerror(errno));
        if (sb->dir)
            janitor_remove(strdup(sb->dir));
        sb->refs = 1;
        sandbox_unref(sb);
        sb = NULL;
        goto fail;
    }
    pthread_mutex_lock(&g_tab);
    g_reserved--;
    sb->seq = ++g_seq;
    table_insert(sb);
    g_running++;
    pthread_mutex_unlock(&g_tab);
    stats_inc("sandboxes_created");
    log_debug("sandbox %s created (template %s, timeout %ds)", sb->id, sb->tmpl->id, p->timeout_s);
    return sb;
fail:
    pthread_mutex_lock(&g_tab);
    g_reserved--;
    pthread_mutex_unlock(&g_tab);
    *status = 500;
    snprintf(msg, msgsz, "failed to create sandbox: %s", strerror(errno ? errno : ENOMEM));
    return NULL;
}

/* Hash lookup; "<id>-<clientID>" is accepted by cutting at the dash. */
sandbox_t *sandbox_get(const char *id)
{
    if (!id)
        return NULL;
    char key[SANDBOX_ID_LEN + 1];
    size_t n = strcspn(id, "-");
    if (n == 0 || n > SANDBOX_ID_LEN)
        return NULL;
    memcpy(key, id, n);
    key[n] = '\0';
    pthread_mutex_lock(&g_tab);
    sandbox_t *sb = g_buckets[bucket_of(key)];
    while (sb && strcmp(sb->id, key) != 0)
        sb = sb->hnext;
    if (sb)
        sandbox_ref(sb);
    pthread_mutex_unlock(&g_tab);
    return sb;
}

/* Hands the directory to the janitor exactly once (mu held). */
void sandbox_release_dir(sandbox_t *sb)
{
    if (sb->dir_released || !sb->dir)
        return;
    sb->dir_released = true;
    char *d = strdup(sb->dir);
    if (d)
        janitor_remove(d);
}

/* Takes the sandbox out of the table, ends its streams, kills its init (and
 * with it every process); the directory goes once the init is reaped. */
int sandbox_kill(sandbox_t *sb, sbx_end_t why)
{
    pthread_mutex_lock(&g_tab);
    if (!sb->in_table) {
        pthread_mutex_unlock(&g_tab);
        return -1;
    }
    table_remove(sb);
    pthread_mutex_lock(&sb->mu);
    if (sb->state == SBX_RUNNING)
        g_running--;
    else if (sb->state == SBX_PAUSED)
        g_paused--;
    sb->state = SBX_DEAD;
    sb->end_reason = why;
    pthread_mutex_unlock(&g_tab);

    char msg[160];
    snprintf(msg, sizeof msg, "sandbox %s was %s", sb->id,
             why == SBX_END_EXPIRED ? "killed because its timeout expired"
             : why == SBX_END_SHUTDOWN ? "killed because sandboxd is shutting down"
                                       : "killed");
    proc_sandbox_dead(sb, "unavailable", msg);
    if (sb->init_state == INIT_READY) {
        if (iso_mode() == ISO_NONE) {
            iso_pidfd_signal(sb->init_pidfd, sb->init_pid, SIGTERM);
            sb->init_kill_at = time_mono_ms() + 3000;
        } else {
            iso_pidfd_signal(sb->init_pidfd, sb->init_pid, SIGKILL);
        }
    } else if (sb->init_state != INIT_STARTING) {
        sandbox_release_dir(sb);
    }
    pthread_cond_broadcast(&sb->cond);
    pthread_mutex_unlock(&sb->mu);
    stats_inc(why == SBX_END_EXPIRED ? "sandboxes_expired" : "sandboxes_killed");
    log_debug("sandbox %s %s", sb->id, why == SBX_END_EXPIRED ? "expired" : "killed");
    sandbox_unref(sb); /* the table's reference */
    return 0;
}

/* setTimeout: the deadline becomes now + seconds (overwrites). */
void sandbox_set_timeout(sandbox_t *sb, int seconds)
{
    pthread_mutex_lock(&sb->mu);
    sb->end_ms = time_now_ms() + (int64_t)(seconds > 0 ? seconds : 0) * 1000;
    pthread_mutex_unlock(&sb->mu);
}

/* Refresh / connect: the deadline only moves later. */
void sandbox_extend(sandbox_t *sb, int seconds)
{
    pthread_mutex_lock(&sb->mu);
    int64_t t = time_now_ms() + (int64_t)seconds * 1000;
    if (t > sb->end_ms)
        sb->end_ms = t;
    pthread_mutex_unlock(&sb->mu);
}

/* Freezes every process through the init (SIGSTOP), or kills them all when
 * memory is not kept. */
int sandbox_pause(sandbox_t *sb, bool keep_memory)
{
    pthread_mutex_lock(&g_tab);
    pthread_mutex_lock(&sb->mu);
    if (sb->state == SBX_DEAD) {
        pthread_mutex_unlock(&sb->mu);
        pthread_mutex_unlock(&g_tab);
        return -1;
    }
    if (sb->state == SBX_PAUSED) {
        pthread_mutex_unlock(&sb->mu);
        pthread_mutex_unlock(&g_tab);
        return 1;
    }
    sb->state = SBX_PAUSED;
    sb->paused_ms = time_now_ms();
    sb->paused_memory = keep_memory;
    g_running--;
    g_paused++;
    bool has_init = sb->init_state == INIT_READY;
    if (has_init && keep_memory)
        /* E2B stops the VM: open streams break; the frozen processes can be
         * reattached (Connect by pid) after a resume */
        proc_sandbox_dead(sb, "unavailable", "sandbox was paused");
    if (has_init && !keep_memory) {
        sb->init_kill_expected = true;
        proc_sandbox_dead(sb, "unavailable", "sandbox was paused without keeping memory");
        iso_pidfd_signal(sb->init_pidfd, sb->init_pid, iso_mode() == ISO_NONE ? SIGTERM : SIGKILL);
        if (iso_mode() == ISO_NONE)
            sb->init_kill_at = time_mono_ms() + 3000;
        has_init = false;
    }
    pthread_mutex_unlock(&sb->mu);
    pthread_mutex_unlock(&g_tab);
    if (has_init) {
        json_t *m = json_pack("{s:s}", "op", "freeze");
        sandbox_send(sb, m, NULL, 0);
        json_decref(m);
    }
    stats_inc("sandboxes_paused_total");
    return 0;
}

/* Thaws a paused sandbox (SIGCONT) if the running limit allows it; without
 * keep_memory its frozen processes are killed instead (a cold boot). */
int sandbox_resume(sandbox_t *sb, int timeout_s, bool keep_memory)
{
    pthread_mutex_lock(&g_tab);
    pthread_mutex_lock(&sb->mu);
    int rc;
    bool has_init = false;
    if (sb->state == SBX_DEAD) {
        rc = -1;
    } else if (sb->state == SBX_RUNNING) {
        int64_t t = time_now_ms() + (int64_t)timeout_s * 1000;
        if (t > sb->end_ms)
            sb->end_ms = t;
        rc = 1;
    } else if (g_running + g_reserved >= g_max_running) {
        rc = -2;
    } else {
        sb->state = SBX_RUNNING;
        g_paused--;
        g_running++;
        sb->end_ms = time_now_ms() + (int64_t)timeout_s * 1000;
        sb->cpu_prev_ms = time_mono_ms(); /* CPU shares do not span the pause */
        has_init = sb->init_state == INIT_READY && !sb->init_kill_expected;
        if (has_init && !keep_memory) {
            sb->init_kill_expected = true;
            proc_sandbox_dead(sb, "unavailable", "sandbox was resumed without its memory");
            iso_pidfd_signal(sb->init_pidfd, sb->init_pid,
                             iso_mode() == ISO_NONE ? SIGTERM : SIGKILL);
            if (iso_mode() == ISO_NONE)
                sb->init_kill_at = time_mono_ms() + 3000;
            has_init = false;
        }
        rc = 0;
    }
    pthread_mutex_unlock(&sb->mu);
    pthread_mutex_unlock(&g_tab);
    if (has_init) {
        json_t *m = json_pack("{s:s}", "op", "thaw");
        sandbox_send(sb, m, NULL, 0);
        json_decref(m);
    }
    return rc;
}

/* PUT /sandboxes/{id}/network: egress replaced, ingress kept. */
int sandbox_update_network(sandbox_t *sb, json_t *egress, int allow_internet)
{
    pthread_mutex_lock(&sb->mu);
    if (sb->state != SBX_RUNNING) {
        pthread_mutex_unlock(&sb->mu);
        return -1;
    }
    json_t *n = json_object();
    static const char *const ingress[] = {"allowPublicTraffic", "maskRequestHost"};
    for (size_t i = 0; i < sizeof ingress / sizeof ingress[0]; i++) {
        json_t *v = sb->network ? json_object_get(sb->network, ingress[i]) : NULL;
        if (v)
            json_object_set(n, ingress[i], v);
    }
    const char *k;
    json_t *v;
    json_object_foreach(egress, k, v) json_object_set(n, k, v);
    json_decref(sb->network);
    sb->network = n;
    if (allow_internet >= 0)
        sb->allow_internet = allow_internet;
    pthread_mutex_unlock(&sb->mu);
    return 0;
}

/* Copies the live list (with references) so callers can filter without
 * holding the table lock. */
sandbox_t **sandbox_snapshot(size_t *n)
{
    pthread_mutex_lock(&g_tab);
    size_t cnt = 0;
    for (sandbox_t *s = g_head; s; s = s->lnext)
        cnt++;
    sandbox_t **v = calloc(cnt ? cnt : 1, sizeof *v);
    size_t i = 0;
    if (v)
        for (sandbox_t *s = g_head; s; s = s->lnext) {
            sandbox_ref(s);
            v[i++] = s;
        }
    pthread_mutex_unlock(&g_tab);
    *n = i;
    return v;
}

/* Drops the references of a snapshot and frees it. */
void sandbox_snapshot_free(sandbox_t **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sandbox_unref(v[i]);
    free(v);
}

/* Number of sandboxes in a state, from the counters kept with the table. */
int sandbox_count(sbx_state_t st)
{
    pthread_mutex_lock(&g_tab);
    int n = st == SBX_RUNNING ? g_running : st == SBX_PAUSED ? g_paused : 0;
    pthread_mutex_unlock(&g_tab);
    return n;
}

/* Deadline sweep: expired sandboxes are killed, or paused with autoPause. */
void sandbox_tick(void)
{
    int64_t now = time_now_ms();
    sandbox_t *due[256];
    size_t n = 0;
    pthread_mutex_lock(&g_tab);
    for (sandbox_t *s = g_head; s && n < sizeof due / sizeof due[0]; s = s->lnext) {
        pthread_mutex_lock(&s->mu);
        bool expired = s->state == SBX_RUNNING && s->end_ms <= now;
        pthread_mutex_unlock(&s->mu);
        if (expired) {
            sandbox_ref(s);
            due[n++] = s;
        }
    }
    pthread_mutex_unlock(&g_tab);
    for (size_t i = 0; i < n; i++) {
        if (due[i]->auto_pause)
            sandbox_pause(due[i], due[i]->auto_pause_memory);
        else
            sandbox_kill(due[i], SBX_END_EXPIRED);
        sandbox_unref(due[i]);
    }
}

/* Shutdown: kill everything that is still in the table. */
void sandbox_kill_all(void)
{
    size_t n;
    sandbox_t **v = sandbox_snapshot(&n);
    for (size_t i = 0; i < n; i++)
        sandbox_kill(v[i], SBX_END_SHUTDOWN);
    sandbox_snapshot_free(v, n);
}

/* Inits not reaped yet (shutdown waits for zero). */
int sandbox_pending_cleanup(void)
{
    return __atomic_load_n(&g_cleanup_pending, __ATOMIC_ACQUIRE);
}

/* Starts the init on first use (through the I/O thread, the only thread
 * allowed to fork sandbox processes) and waits until it is up. */
int sandbox_ensure_init(sandbox_t *sb, char *err, size_t errsz)
{
    bool requested = false;
    pthread_mutex_lock(&sb->mu);
    for (;;) {
        if (sb->state != SBX_RUNNING) {
            snprintf(err, errsz, "sandbox %s is not running", sb->id);
            break;
        }
        if (sb->init_state == INIT_READY && !sb->init_kill_expected) {
            pthread_mutex_unlock(&sb->mu);
            return 0;
        }
        if (sb->init_state == INIT_READY) {
            /* an init killed on purpose (pause or resume without memory) is
             * still exiting: wait for it, then start a fresh one */
            pthread_cond_wait(&sb->cond, &sb->mu);
            continue;
        }
        if (sb->init_state == INIT_FAILED && requested) {
            snprintf(err, errsz, "cannot start the sandbox: %s", sb->init_error);
            break;
        }
        if (sb->init_state != INIT_STARTING) {
            sb->init_state = INIT_STARTING;
            requested = true;
            sandbox_ref(sb);
            io_post(IO_CMD_SPAWN_INIT, sb);
        }
        pthread_cond_wait(&sb->cond, &sb->mu);
    }
    pthread_mutex_unlock(&sb->mu);
    return -1;
}

/* Frames are serialized by init_wmu, which also keeps init_fd from being
 * closed (and its number reused) while a frame is in flight. */
int sandbox_send(sandbox_t *sb, json_t *msg, const int *fds, int nfds)
{
    pthread_mutex_lock(&sb->init_wmu);
    int rc = sb->init_fd >= 0 ? initp_send(sb->init_fd, msg, fds, nfds) : -EPIPE;
    pthread_mutex_unlock(&sb->init_wmu);
    return rc;
}

/* PATH/HOME/USER/LOGNAME as envd sets them, E2B's markers, then the
 * sandbox's envVars (which may override). */
json_t *sandbox_base_env(const sandbox_t *sb)
{
    json_t *env = json_object();
    const char *user = iso_user();
    json_object_set_new(env, "PATH", json_string("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"));
    if (iso_mode() == ISO_NONE) {
        char p[4096];
        snprintf(p, sizeof p, "%s/home/user", sb->root);
        json_object_set_new(env, "HOME", json_string(p));
        snprintf(p, sizeof p, "%s/tmp", sb->root);
        json_object_set_new(env, "TMPDIR", json_string(p));
    } else {
        json_object_set_new(env, "HOME", json_string("/home/user"));
    }
    json_object_set_new(env, "USER", json_string(user));
    json_object_set_new(env, "LOGNAME", json_string(user));
    json_object_set_new(env, "E2B_SANDBOX", json_string("true"));
    json_object_set_new(env, "E2B_SANDBOX_ID", json_string(sb->id));
    const char *k;
    json_t *v;
    json_object_foreach(sb->env_vars, k, v) if (json_is_string(v))
        json_object_set(env, k, v);
    return env;
}

/* ---------- I/O thread side ---------- */

/* sandbox_unref with the signature io_defer() wants. */
static void sandbox_unref_cb(void *sb)
{
    sandbox_unref(sb);
}

/* Spawns the init (bwrap or plain) and registers its socket and pidfd; a
 * sandbox killed meanwhile gets its init killed right away. */
void sandbox_io_spawn_init(sandbox_t *sb)
{
    pthread_mutex_lock(&sb->mu);
    bool dead = sb->state == SBX_DEAD;
    pthread_mutex_unlock(&sb->mu);
    if (dead) {
        pthread_mutex_lock(&sb->mu);
        sb->init_state = INIT_FAILED;
        snprintf(sb->init_error, sizeof sb->init_error, "sandbox was killed");
        sandbox_release_dir(sb);
        pthread_cond_broadcast(&sb->cond);
        pthread_mutex_unlock(&sb->mu);
        sandbox_unref(sb);
        return;
    }
    int fd = -1, pidfd = -1;
    pid_t pid = -1;
    char err[256] = "";
    int rc = iso_spawn_init(sb, &fd, &pid, &pidfd, err, sizeof err);
    pthread_mutex_lock(&sb->mu);
    if (rc < 0) {
        sb->init_state = INIT_FAILED;
        snprintf(sb->init_error, sizeof sb->init_error, "%s", err);
        log_error("sandbox %s: cannot start init: %s", sb->id, err);
        if (sb->state == SBX_DEAD)
            sandbox_release_dir(sb);
        pthread_cond_broadcast(&sb->cond);
        pthread_mutex_unlock(&sb->mu);
        sandbox_unref(sb);
        return;
    }
    pthread_mutex_lock(&sb->init_wmu);
    sb->init_fd = fd;
    pthread_mutex_unlock(&sb->init_wmu);
    sb->init_pid = pid;
    sb->init_pidfd = pidfd;
    sb->init_kill_at = 0;
    sb->w_ctl.fd = fd;
    sb->w_pid.fd = pidfd;
    io_watch_add(&sb->w_ctl, EPOLLIN);
    io_watch_add(&sb->w_pid, EPOLLIN);
    __atomic_add_fetch(&g_cleanup_pending, 1, __ATOMIC_RELEASE);
    sb->inext = g_inits;
    sb->iprev = NULL;
    if (g_inits)
        g_inits->iprev = sb;
    g_inits = sb;
    sb->init_state = INIT_READY;
    if (sb->state == SBX_DEAD) {
        iso_pidfd_signal(pidfd, pid, iso_mode() == ISO_NONE ? SIGTERM : SIGKILL);
        if (iso_mode() == ISO_NONE)
            sb->init_kill_at = time_mono_ms() + 3000;
    }
    pthread_cond_broadcast(&sb->cond);
    pthread_mutex_unlock(&sb->mu);
    stats_inc("inits_started");
    /* the reference taken by sandbox_ensure_init now belongs to the watches */
}

/* Reads frames from the init: spawn results and exit statuses. */
void sandbox_io_ctl(sandbox_t *sb)
{
    if (sb->w_ctl.fd < 0)
        return;
    int n = initp_read(sb->w_ctl.fd, &sb->init_rd);
    if (n == 0 || n == -2) {
        io_watch_del(&sb->w_ctl); /* the pidfd event finishes the cleanup */
        return;
    }
    for (;;) {
        bool bad;
        json_t *msg = initp_next(&sb->init_rd, &bad);
        if (bad) {
            log_error("sandbox %s: malformed frame from init", sb->id);
            io_watch_del(&sb->w_ctl);
            iso_pidfd_signal(sb->init_pidfd, sb->init_pid, SIGKILL);
            return;
        }
        if (!msg)
            break;
        const char *op = json_string_value(json_object_get(msg, "op"));
        if (op && strcmp(op, "spawned") == 0)
            proc_io_spawned(sb, msg);
        else if (op && strcmp(op, "exit") == 0)
            proc_io_exit(sb, msg);
        json_decref(msg);
    }
}

/* The init exited: reap it, end whatever was left, and (for a dead
 * sandbox) release the directory.  A live sandbox whose init died gets a
 * new one on its next command. */
void sandbox_io_init_exit(sandbox_t *sb)
{
    int st = 0;
    pid_t r = waitpid(sb->init_pid, &st, WNOHANG);
    if (r == 0)
        return; /* spurious */
    /* r < 0 (ECHILD): a stray sweep (iso_reap_strays) reaped it already */
    if (sb->w_ctl.fd >= 0) {
        sandbox_io_ctl(sb); /* last frames (exit statuses) */
        if (sb->w_ctl.fd >= 0)
            io_watch_del(&sb->w_ctl);
    }
    io_watch_del(&sb->w_pid);
    if (sb->iprev)
        sb->iprev->inext = sb->inext;
    else
        g_inits = sb->inext;
    if (sb->inext)
        sb->inext->iprev = sb->iprev;
    sb->inext = sb->iprev = NULL;
    pthread_mutex_lock(&sb->mu);
    proc_release_all(sb, sb->state == SBX_DEAD ? "sandbox was killed"
                                               : "sandbox init exited unexpectedly");
    interp_init_gone(sb);
    pthread_mutex_lock(&sb->init_wmu);
    if (sb->init_fd >= 0)
        close(sb->init_fd);
    sb->init_fd = -1;
    pthread_mutex_unlock(&sb->init_wmu);
    if (sb->init_pidfd >= 0)
        close(sb->init_pidfd);
    sb->init_pidfd = -1;
    sb->init_pid = -1;
    sb->init_kill_at = 0;
    initp_reader_free(&sb->init_rd);
    initp_reader_init(&sb->init_rd);
    sb->init_state = INIT_GONE;
    if (sb->state == SBX_DEAD)
        sandbox_release_dir(sb);
    else if (!sb->init_kill_expected)
        log_warn("sandbox %s: init exited unexpectedly (status 0x%x)", sb->id, st);
    sb->init_kill_expected = false;
    pthread_cond_broadcast(&sb->cond);
    pthread_mutex_unlock(&sb->mu);
    __atomic_sub_fetch(&g_cleanup_pending, 1, __ATOMIC_RELEASE);
    io_defer(sandbox_unref_cb, sb); /* the watches' reference, after this batch */
}

/* Fallback mode gives the init 3 s to kill its tree, then SIGKILLs it.
 * Dead sandboxes are no longer in the table, so the I/O thread keeps its
 * own list of sandboxes that own an init (g_inits, I/O thread only). */
void sandbox_io_escalate(void)
{
    int64_t now = time_mono_ms();
    for (sandbox_t *sb = g_inits; sb; sb = sb->inext) {
        pthread_mutex_lock(&sb->mu);
        if (sb->init_kill_at && now >= sb->init_kill_at) {
            sb->init_kill_at = 0;
            log_warn("sandbox %s: init did not exit in time, killing it", sb->id);
            iso_pidfd_signal(sb->init_pidfd, sb->init_pid, SIGKILL);
        }
        pthread_mutex_unlock(&sb->mu);
    }
}
