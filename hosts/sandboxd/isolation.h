/*
 * isolation.h - how sandbox processes are isolated.
 *
 * Preferred: bubblewrap with a user namespace (commands run as uid 1000
 * "user" with no privileges on the host), a PID namespace (the sandbox's
 * init is PID 1; when it dies the kernel kills every process of the
 * sandbox), IPC and UTS namespaces, a read-only view of /usr, /etc, ... and
 * the sandbox's own /home/user and /tmp bound read-write.
 * Next: bubblewrap without a user namespace (commands run as root inside).
 * Last resort ("fallback", announced loudly at start): plain processes in
 * the sandbox's directory, HOME and TMPDIR pointing there, killed through
 * their process groups and a subreaper sweep.
 *
 * None of this is a security boundary comparable to E2B's microVMs.
 */
#ifndef SANDBOXD_ISOLATION_H
#define SANDBOXD_ISOLATION_H

#include "sandbox.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef enum {
    ISO_BWRAP_USERNS = 0, /* bwrap + user namespace: uid 1000 "user" */
    ISO_BWRAP,            /* bwrap without user namespace: root inside */
    ISO_NONE,             /* fallback: no namespaces */
} iso_mode_t;

/* Probes bubblewrap (unless disabled) and prepares shared files under
 * data_dir.  Always succeeds by falling back; returns -1 only when the init
 * binary is missing. */
int iso_init(const char *data_dir);

/* The mode chosen by iso_init(). */
iso_mode_t iso_mode(void);

/* Human-readable description of the mode. */
const char *iso_describe(void);

/* User name commands run as ("user" or "root"). */
const char *iso_user(void);

/* Starts the init of `sb` (I/O thread only).  Fills the control socket,
 * host pid and pidfd.  Returns 0 or -1 with a message. */
int iso_spawn_init(sandbox_t *sb, int *ctl_fd, pid_t *pid, int *pidfd, char *err, size_t errsz);

/* Maps a sandbox path (cwd) to the path the init must chdir to: itself
 * inside bubblewrap, <root>/... for /home/user and /tmp in fallback mode. */
void iso_map_path(const sandbox_t *sb, const char *path, char *out, size_t outsz);

/* sandboxd is a child subreaper (set in iso_init): an init whose bwrap
 * parent was killed re-parents to sandboxd instead of to PID 1.  This reaps
 * such strays (and any other exited child); returns how many. */
int iso_reap_strays(void);

/* Sends a signal through a pidfd (falls back to kill()). */
int iso_pidfd_signal(int pidfd, pid_t pid, int sig);

#endif
