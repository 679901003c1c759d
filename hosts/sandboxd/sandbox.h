/*
 * sandbox.h - sandboxes and the table of live sandboxes.
 *
 * A sandbox is a directory (<data-dir>/<id>/root with home/user and tmp),
 * some metadata, a deadline, and - from its first command on - an init
 * process (sandboxd-init, inside bubblewrap where available) that starts
 * and reaps its processes.  Creating one costs a few mkdir calls.
 *
 * Life cycle (sbx_state_t):
 *   RUNNING --pause--> PAUSED --resume/connect--> RUNNING
 *   RUNNING|PAUSED --kill / deadline / shutdown--> DEAD
 * A DEAD sandbox is out of the table; its init (and with it every process)
 * is killed, and its directory is removed once the init has been reaped.
 *
 * Init life cycle (init_state_t):
 *   NONE --first command--> STARTING --spawned--> READY --exited--> GONE
 *   STARTING --spawn failed--> FAILED;  GONE/FAILED --next command--> STARTING
 *
 * Concurrency: a sandbox is reference counted (sandbox_get() returns a
 * reference; drop it with sandbox_unref()).  `mu` guards the mutable state,
 * its processes and code-interpreter contexts.  Lock order: table lock ->
 * sandbox mu -> init_wmu.  Frames to the init are never sent while `mu` is
 * held.
 */
#ifndef SANDBOXD_SANDBOX_H
#define SANDBOXD_SANDBOX_H

#include "ids.h"
#include "initproto.h"
#include "templates.h"

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct proc proc_t;
typedef struct ictx ictx_t;
typedef struct sbx_metric sbx_metric_t;

/* What a descriptor registered with the I/O thread belongs to. */
typedef enum {
    IOW_NONE = 0,
    IOW_WAKE,      /* the I/O thread's own eventfd */
    IOW_INIT_CTL,  /* a sandbox's init control socket */
    IOW_INIT_PID,  /* a sandbox's init pidfd (readable when it exits) */
    IOW_PROC_OUT,  /* a process's stdout pipe */
    IOW_PROC_ERR,  /* a process's stderr pipe */
} iow_kind_t;

/* A registration with the I/O thread's epoll set. */
typedef struct io_watch {
    iow_kind_t kind;
    int fd;        /* -1 when not registered */
    void *obj;     /* sandbox_t* or proc_t* */
} io_watch_t;

typedef enum { SBX_RUNNING = 0, SBX_PAUSED, SBX_DEAD } sbx_state_t;
typedef enum { INIT_NONE = 0, INIT_STARTING, INIT_READY, INIT_GONE, INIT_FAILED } init_state_t;
typedef enum { SBX_END_KILLED = 0, SBX_END_EXPIRED, SBX_END_SHUTDOWN } sbx_end_t;

typedef struct sandbox {
    /* immutable after creation */
    char id[SANDBOX_ID_LEN + 1];
    char token[65];               /* envdAccessToken; "" when not secure */
    const template_t *tmpl;
    json_t *metadata;             /* object of strings */
    json_t *env_vars;             /* object of strings */
    uint64_t seq;                 /* creation order (listing, paging) */
    int64_t started_ms;           /* wall clock */
    bool auto_pause;              /* lifecycle.onTimeout = pause (autoPause) */
    bool auto_pause_memory;       /* autoPauseMemory (default true): keep processes */
    bool auto_resume;             /* autoResume.enabled: traffic resumes a paused sandbox */
    int auto_resume_timeout_s;    /* deadline given by an auto-resume */
    char traffic_token[65];       /* trafficAccessToken (network.allowPublicTraffic=false), or "" */
    char *dir;                    /* <data-dir>/<id> */
    char *root;                   /* <dir>/root: the sandbox's "/" for the files API */
    int root_fd;                  /* O_PATH descriptor of root */
    int refs;                     /* atomic */

    pthread_mutex_t mu;           /* guards everything below */
    pthread_cond_t cond;          /* signalled on init_state changes */
    sbx_state_t state;
    sbx_end_t end_reason;
    int64_t end_ms;               /* wall-clock deadline while running */
    int64_t paused_ms;            /* wall clock of the last pause */
    bool paused_memory;           /* that pause kept the processes (memory) */
    json_t *network;              /* the create body's "network" as stored (or NULL) */
    int allow_internet;           /* allow_internet_access: -1 not given, 0, 1 */
    bool dir_released;            /* handed to the janitor */
    bool in_table;                /* table lock */

    init_state_t init_state;
    char init_error[256];
    int init_fd;                  /* control socket, -1 if none */
    pid_t init_pid;               /* host pid of bwrap (or of the init in fallback) */
    int init_pidfd;
    int64_t init_kill_at;         /* mono ms to escalate to SIGKILL, 0 = none */
    bool init_kill_expected;      /* killed on purpose (pause without memory) */
    pthread_mutex_t init_wmu;     /* serializes frames to the init; guards init_fd use */
    initp_reader_t init_rd;       /* I/O thread only */
    io_watch_t w_ctl, w_pid;      /* I/O thread only */
    uint64_t spawn_seq;
    proc_t *procs;                /* live processes */
    ictx_t *ctxs;                 /* code-interpreter contexts */
    uint64_t ctx_seq;

    /* per-sandbox metrics (metrics.c; guarded by mu) */
    sbx_metric_t *mring;         /* ring of samples, oldest at mhead */
    int mcap, mlen, mhead;
    uint64_t cpu_prev_ticks;      /* CPU ticks of the tree at the previous sample */
    int64_t cpu_prev_ms;          /* monotonic time of that sample (0 = none) */
    pid_t cpu_prev_init;          /* init whose tree was measured */

    struct sandbox *hnext;        /* hash chain (table lock) */
    struct sandbox *lnext, *lprev;/* creation-order list (table lock) */
    struct sandbox *inext, *iprev;/* sandboxes owning an init (I/O thread) */
} sandbox_t;

/* Parameters of POST /sandboxes. */
typedef struct sbx_create {
    const template_t *tmpl;
    int timeout_s;
    json_t *metadata;   /* borrowed; copied */
    json_t *env_vars;   /* borrowed; copied */
    bool secure;
    bool auto_pause;
    bool auto_pause_memory;
    bool auto_resume;
    int auto_resume_timeout_s;
    json_t *network;    /* borrowed; copied (NULL = none) */
    int allow_internet; /* -1 = not given */
    bool traffic_token; /* generate a trafficAccessToken */
} sbx_create_t;

/* Sets the live-sandbox limit and the data directory. */
int sandbox_table_init(int max_running, const char *data_dir);

/* Creates a sandbox (directories, table entry).  Returns a reference, or
 * NULL with an HTTP status (429, 500) and message. */
sandbox_t *sandbox_create(const sbx_create_t *p, int *status, char *msg, size_t msgsz);

/* Looks up a live (running or paused) sandbox; accepts the legacy
 * "<id>-<clientID>" form.  Returns a reference or NULL. */
sandbox_t *sandbox_get(const char *id);

void sandbox_ref(sandbox_t *sb);
void sandbox_unref(sandbox_t *sb);

/* Kills a sandbox: out of the table, processes killed, directory removed
 * once its init is gone.  Returns 0, or -1 if it was already dead. */
int sandbox_kill(sandbox_t *sb, sbx_end_t why);

/* Sets the deadline to now + seconds (seconds <= 0: expires now). */
void sandbox_set_timeout(sandbox_t *sb, int seconds);

/* Moves the deadline to now + seconds if that is later. */
void sandbox_extend(sandbox_t *sb, int seconds);

/* Pauses: with keep_memory every process is frozen (SIGSTOP) and thawed on
 * resume; without, the processes are killed and only the files are kept
 * (E2B's filesystem-only snapshot).  Returns 0, 1 if already paused, -1 if
 * dead. */
int sandbox_pause(sandbox_t *sb, bool keep_memory);

/* Resumes a paused sandbox with a new deadline.  Without keep_memory a
 * sandbox paused with its memory comes back without its processes (E2B's
 * connect {"memory":false}: a cold boot from the files).  Returns 0 if
 * resumed, 1 if it was running (deadline only extended), -1 if dead, -2 at
 * the limit. */
int sandbox_resume(sandbox_t *sb, int timeout_s, bool keep_memory);

/* Replaces the network configuration (PUT /sandboxes/{id}/network): egress
 * keys are replaced, ingress keys kept; allow_internet < 0 keeps the old
 * value.  `egress` is borrowed.  Returns 0, or -1 if the sandbox is not
 * running. */
int sandbox_update_network(sandbox_t *sb, json_t *egress, int allow_internet);

/* References to every live sandbox in creation order; free with
 * sandbox_snapshot_free(). */
sandbox_t **sandbox_snapshot(size_t *n);
void sandbox_snapshot_free(sandbox_t **v, size_t n);

/* Number of sandboxes in a state (RUNNING or PAUSED). */
int sandbox_count(sbx_state_t st);

/* Kills or pauses sandboxes whose deadline passed (called periodically). */
void sandbox_tick(void);

/* Kills every sandbox (shutdown). */
void sandbox_kill_all(void);

/* Number of sandboxes whose init or directory is still being cleaned up. */
int sandbox_pending_cleanup(void);

/* Blocks until the init is running (starting it if needed).  Returns 0, or
 * -1 with a message (sandbox not running, spawn failure). */
int sandbox_ensure_init(sandbox_t *sb, char *err, size_t errsz);

/* Sends a frame to the init; must be called without `mu` held.  Returns 0
 * or -errno. */
int sandbox_send(sandbox_t *sb, json_t *msg, const int *fds, int nfds);

/* Environment every process of the sandbox starts with (new object). */
json_t *sandbox_base_env(const sandbox_t *sb);

/* Hands the directory to the janitor once (caller holds mu). */
void sandbox_release_dir(sandbox_t *sb);

/* I/O thread: starts the init for a sandbox whose init_state is STARTING. */
void sandbox_io_spawn_init(sandbox_t *sb);

/* I/O thread: the init's control socket is readable. */
void sandbox_io_ctl(sandbox_t *sb);

/* I/O thread: the init's pidfd is readable (it exited). */
void sandbox_io_init_exit(sandbox_t *sb);

/* I/O thread: escalates slow fallback shutdowns to SIGKILL. */
void sandbox_io_escalate(void);

#endif
