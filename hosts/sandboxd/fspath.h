/*
 * fspath.h - sandbox paths for the files API, resolved safely.
 *
 * The files API sees a sandbox's "/" as <data-dir>/<id>/root, which holds
 * home/user and tmp (the directories bound at /home/user and /tmp inside
 * bubblewrap).  Every lookup goes through openat2(RESOLVE_IN_ROOT), so ".."
 * and symlinks - relative or absolute - can never leave that root: an
 * absolute symlink to /etc/passwd resolves to <root>/etc/passwd, which does
 * not exist.  Writes are allowed only below /home/user and /tmp.
 */
#ifndef SANDBOXD_FSPATH_H
#define SANDBOXD_FSPATH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#define FSP_HOME "/home/user"

/* Normalizes a path the way envd expands it: "" and "~" -> /home/user,
 * "~/x" and relative paths -> /home/user/..., then "." and ".." removed
 * lexically.  Returns 0, or -1 if it does not fit. */
int fsp_clean(const char *in, char *out, size_t outsz);

/* True if a clean path is /home/user, /tmp or below them. */
bool fsp_writable(const char *clean);

/* True if a clean path is one of the fixed directories ("/", "/home",
 * "/home/user", "/tmp") that must not be removed or renamed. */
bool fsp_is_fixed(const char *clean);

/* openat2(root_fd, clean, flags|O_CLOEXEC, mode, RESOLVE_IN_ROOT).
 * Returns a descriptor or -1 with errno. */
int fsp_open(int root_fd, const char *clean, int flags, mode_t mode);

/* Opens the parent directory (O_PATH) of a clean path and points *base at
 * its last component.  Returns a descriptor or -1 with errno. */
int fsp_open_parent(int root_fd, const char *clean, const char **base);

/* Like fsp_open_parent(), for modifications: after symlinks are resolved,
 * the real location (parent's real path + "/" + base, written to `real`)
 * must still be writable and not a fixed directory, otherwise -1/EACCES.
 * This is what stops "/home/user/link-to-root/tmp" from reaching "/tmp"
 * itself.  `root` is the host path of the sandbox root. */
int fsp_open_parent_w(int root_fd, const char *root, const char *clean, const char **base,
                      char *real, size_t realsz);

/* mkdir -p of a clean directory path (mode 0755), every level checked as
 * by fsp_open_parent_w.  Returns 0 or -1/errno. */
int fsp_mkdir_p(int root_fd, const char *root, const char *clean);

/* Recursive removal of a clean path (no error if it does not exist).
 * Never follows symlinks below the path; the path itself is checked as by
 * fsp_open_parent_w.  Returns 0 or -1/errno. */
int fsp_remove(int root_fd, const char *root, const char *clean);

/* The sandbox path of an open descriptor (via /proc/self/fd), relative to
 * the sandbox root at `root` (host path).  Returns 0 or -1. */
int fsp_fd_path(int fd, const char *root, char *out, size_t outsz);

#endif
