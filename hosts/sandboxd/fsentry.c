/* fsentry.c - EntryInfo JSON (see fsentry.h). */
#include "fsentry.h"

#include "fspath.h"
#include "isolation.h"
#include "timeutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Go's os.FileMode.String(): type letters (or '-') then rwxrwxrwx. */
static void go_mode_string(mode_t m, char *out)
{
    size_t o = 0;
    if (S_ISDIR(m))
        out[o++] = 'd';
    if (S_ISLNK(m))
        out[o++] = 'L';
    if (S_ISBLK(m))
        out[o++] = 'D';
    if (S_ISFIFO(m))
        out[o++] = 'p';
    if (S_ISSOCK(m))
        out[o++] = 'S';
    if (m & S_ISUID)
        out[o++] = 'u';
    if (m & S_ISGID)
        out[o++] = 'g';
    if (S_ISCHR(m)) {
        out[o++] = 'D';
        out[o++] = 'c';
    }
    if (m & S_ISVTX)
        out[o++] = 't';
    if (o == 0)
        out[o++] = '-';
    static const char rwx[] = "rwxrwxrwx";
    for (int i = 0; i < 9; i++)
        out[o++] = (m & (1 << (8 - i))) ? rwx[i] : '-';
    out[o] = '\0';
}

/* envd maps stat types to FILE_TYPE_*; other kinds get no "type" (the
 * proto default is omitted). */
static const char *entry_type(mode_t m)
{
    if (S_ISREG(m))
        return "FILE_TYPE_FILE";
    if (S_ISDIR(m))
        return "FILE_TYPE_DIRECTORY";
    if (S_ISLNK(m))
        return "FILE_TYPE_SYMLINK";
    return NULL;
}

/* Files sandboxd or the sandbox created belong to our own uid on the host,
 * which is the sandbox user inside. */
static void owner_name(uid_t uid, char *out, size_t n)
{
    if (uid == geteuid())
        snprintf(out, n, "%s", iso_user());
    else
        snprintf(out, n, "%u", (unsigned)uid);
}

json_t *fsentry_json(const sandbox_t *sb, int dirfd, const char *name, const char *spath,
                     const struct stat *lst)
{
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(name));
    mode_t type_mode = lst->st_mode;
    mode_t perm = lst->st_mode & 0777;
    if (S_ISLNK(lst->st_mode)) {
        char target[4096] = "";
        int fd = fsp_open(sb->root_fd, spath, O_PATH, 0);
        struct stat tst;
        if (fd >= 0 && fstat(fd, &tst) == 0) {
            type_mode = tst.st_mode;
            perm = tst.st_mode & 0777;
            if (fsp_fd_path(fd, sb->root, target, sizeof target) < 0)
                snprintf(target, sizeof target, "%s", spath);
        } else {
            type_mode = 0;
            perm = 0;
            ssize_t n = readlinkat(dirfd, name, target, sizeof target - 1);
            target[n > 0 ? n : 0] = '\0';
        }
        if (fd >= 0)
            close(fd);
        json_object_set_new(o, "symlinkTarget", json_string(target));
    }
    const char *t = entry_type(type_mode);
    if (t)
        json_object_set_new(o, "type", json_string(t));
    json_object_set_new(o, "path", json_string(spath));
    char num[32];
    snprintf(num, sizeof num, "%lld", (long long)lst->st_size);
    if (lst->st_size)
        json_object_set_new(o, "size", json_string(num));
    if (perm)
        json_object_set_new(o, "mode", json_integer(perm));
    char ms[16];
    go_mode_string(lst->st_mode, ms);
    json_object_set_new(o, "permissions", json_string(ms));
    char who[64];
    owner_name(lst->st_uid, who, sizeof who);
    json_object_set_new(o, "owner", json_string(who));
    if (lst->st_gid == getegid())
        snprintf(who, sizeof who, "%s", iso_user());
    else
        snprintf(who, sizeof who, "%u", (unsigned)lst->st_gid);
    json_object_set_new(o, "group", json_string(who));
    char ts[40];
    time_rfc3339_proto(&lst->st_mtim, ts, sizeof ts);
    json_object_set_new(o, "modifiedTime", json_string(ts));
    return o;
}

/* lstat through the confined parent, then build the entry. */
json_t *fsentry_for_path(const sandbox_t *sb, const char *clean)
{
    struct stat st;
    if (strcmp(clean, "/") == 0) {
        if (fstat(sb->root_fd, &st) < 0)
            return NULL;
        return fsentry_json(sb, sb->root_fd, "/", "/", &st);
    }
    const char *base;
    int pfd = fsp_open_parent(sb->root_fd, clean, &base);
    if (pfd < 0)
        return NULL;
    if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        int e = errno;
        close(pfd);
        errno = e;
        return NULL;
    }
    json_t *j = fsentry_json(sb, pfd, base, clean, &st);
    close(pfd);
    return j;
}
