/*
 * fsentry.h - envd's EntryInfo JSON for a file of a sandbox:
 *   {"name","type":"FILE_TYPE_FILE|FILE_TYPE_DIRECTORY|FILE_TYPE_SYMLINK",
 *    "path","size":"123","mode":420,"permissions":"-rw-r--r--",
 *    "owner","group","modifiedTime":"...Z","symlinkTarget"?}
 * Like envd: the entry is lstat()ed; for a symlink, "type" and "mode"
 * describe the target and "symlinkTarget" is the resolved path.
 */
#ifndef SANDBOXD_FSENTRY_H
#define SANDBOXD_FSENTRY_H

#include "sandbox.h"

#include <jansson.h>
#include <sys/stat.h>

/* Builds the entry for `name` inside the directory `dirfd`, reported at
 * sandbox path `spath`.  `lst` is its lstat.  Returns a new object. */
json_t *fsentry_json(const sandbox_t *sb, int dirfd, const char *name, const char *spath,
                     const struct stat *lst);

/* Looks up a clean sandbox path and builds its entry; NULL with errno if
 * it does not exist. */
json_t *fsentry_for_path(const sandbox_t *sb, const char *clean);

#endif
