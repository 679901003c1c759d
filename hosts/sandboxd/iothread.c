/* iothread.c - the epoll loop behind every sandbox pipe and init (see
 * iothread.h). */
#include "iothread.h"

#include "isolation.h"
#include "log.h"
#include "proc.h"
#include "timeutil.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define TICK_MS 200

/* One posted request. */
typedef struct io_cmd {
    struct io_cmd *next;
    io_cmd_kind_t kind;
    void *obj;
} io_cmd_t;

static int g_ep = -1;
static int g_wake = -1;
static io_watch_t g_wake_watch = {IOW_WAKE, -1, NULL};
static pthread_t g_thread;
static bool g_running;
static volatile bool g_stop;
static pthread_mutex_t g_qmu = PTHREAD_MUTEX_INITIALIZER;
static io_cmd_t *g_qhead, *g_qtail;

typedef struct deferred {
    void (*fn)(void *);
    void *obj;
} deferred_t;
static deferred_t *g_def;   /* I/O thread only */
static size_t g_ndef, g_capdef;

/* Remembers a release to run after the batch; if memory is short the
 * release runs at once (only unsafe in the rare same-batch case). */
void io_defer(void (*fn)(void *), void *obj)
{
    if (g_ndef == g_capdef) {
        size_t ncap = g_capdef ? g_capdef * 2 : 64;
        deferred_t *p = realloc(g_def, ncap * sizeof *p);
        if (!p) {
            fn(obj);
            return;
        }
        g_def = p;
        g_capdef = ncap;
    }
    g_def[g_ndef++] = (deferred_t){fn, obj};
}

/* Runs the deferred releases of a finished batch. */
static void run_deferred(void)
{
    for (size_t i = 0; i < g_ndef; i++)
        g_def[i].fn(g_def[i].obj);
    g_ndef = 0;
}

/* Adds a descriptor to the epoll set with the watch as its cookie. */
int io_watch_add(io_watch_t *w, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = w};
    if (epoll_ctl(g_ep, EPOLL_CTL_ADD, w->fd, &ev) < 0) {
        log_error("epoll add fd %d: %s", w->fd, strerror(errno));
        return -1;
    }
    return 0;
}

/* Changes the events of a watch (0 = paused). */
void io_watch_mod(io_watch_t *w, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = w};
    epoll_ctl(g_ep, EPOLL_CTL_MOD, w->fd, &ev);
}

/* Removes a watch; the caller closes the descriptor.  Setting fd to -1
 * makes events already fetched in this round ignore it. */
void io_watch_del(io_watch_t *w)
{
    if (w->fd >= 0)
        epoll_ctl(g_ep, EPOLL_CTL_DEL, w->fd, NULL);
    w->fd = -1;
}

/* Queues a request and wakes the loop through the eventfd. */
void io_post(io_cmd_kind_t kind, void *obj)
{
    io_cmd_t *c = calloc(1, sizeof *c);
    if (!c) {
        log_error("out of memory posting to the I/O thread");
        return;
    }
    c->kind = kind;
    c->obj = obj;
    pthread_mutex_lock(&g_qmu);
    if (g_qtail)
        g_qtail->next = c;
    else
        g_qhead = c;
    g_qtail = c;
    pthread_mutex_unlock(&g_qmu);
    uint64_t one = 1;
    ssize_t w = write(g_wake, &one, sizeof one);
    (void)w;
}

/* Runs every queued request. */
static void run_commands(void)
{
    uint64_t v;
    ssize_t r = read(g_wake, &v, sizeof v);
    (void)r;
    pthread_mutex_lock(&g_qmu);
    io_cmd_t *c = g_qhead;
    g_qhead = g_qtail = NULL;
    pthread_mutex_unlock(&g_qmu);
    while (c) {
        io_cmd_t *n = c->next;
        switch (c->kind) {
        case IO_CMD_SPAWN_INIT:
            sandbox_io_spawn_init(c->obj);
            break;
        case IO_CMD_RESUME_PROC:
            proc_io_resume(c->obj);
            break;
        }
        free(c);
        c = n;
    }
}

/* Dispatches one ready descriptor by the kind of its watch.  Objects stay
 * alive while registered (the watch owner holds a reference), and a watch
 * removed earlier in the same round has fd -1 and is skipped. */
static void dispatch(io_watch_t *w)
{
    if (w->fd < 0)
        return;
    switch (w->kind) {
    case IOW_WAKE:
        run_commands();
        break;
    case IOW_INIT_CTL:
        sandbox_io_ctl(w->obj);
        break;
    case IOW_INIT_PID:
        sandbox_io_init_exit(w->obj);
        break;
    case IOW_PROC_OUT:
    case IOW_PROC_ERR:
        proc_io_readable(w->obj, w);
        break;
    default:
        break;
    }
}

/* The loop: events, then the deadline tick every TICK_MS. */
static void *io_main(void *arg)
{
    (void)arg;
    struct epoll_event evs[256];
    int64_t next_tick = time_mono_ms() + TICK_MS;
    while (!g_stop) {
        int64_t now = time_mono_ms();
        int timeout = next_tick > now ? (int)(next_tick - now) : 0;
        int n = epoll_wait(g_ep, evs, 256, timeout);
        if (n < 0 && errno != EINTR) {
            log_error("epoll_wait: %s", strerror(errno));
            time_sleep_ms(10);
        }
        for (int i = 0; i < n; i++)
            dispatch(evs[i].data.ptr);
        run_deferred();
        now = time_mono_ms();
        if (now >= next_tick) {
            sandbox_tick();
            proc_tick();
            sandbox_io_escalate();
            iso_reap_strays();
            run_deferred();
            next_tick = now + TICK_MS;
        }
    }
    return NULL;
}

/* Creates the epoll set and eventfd and starts the thread (default stack:
 * the loop uses static buffers). */
int io_start(void)
{
    g_ep = epoll_create1(EPOLL_CLOEXEC);
    g_wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (g_ep < 0 || g_wake < 0)
        return -1;
    g_wake_watch.fd = g_wake;
    if (io_watch_add(&g_wake_watch, EPOLLIN) < 0)
        return -1;
    if (pthread_create(&g_thread, NULL, io_main, NULL) != 0)
        return -1;
    g_running = true;
    return 0;
}

/* Asks the loop to end and joins it. */
void io_stop(void)
{
    if (!g_running)
        return;
    g_stop = true;
    uint64_t one = 1;
    ssize_t w = write(g_wake, &one, sizeof one);
    (void)w;
    pthread_join(g_thread, NULL);
    g_running = false;
    run_deferred();
    free(g_def);
    g_def = NULL;
    g_capdef = 0;
}
