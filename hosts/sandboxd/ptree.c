/* ptree.c - process table snapshots (see ptree.h). */
#include "ptree.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Parses the fields of /proc/<pid>/stat that follow the command name. */
static int read_stat(pid_t pid, pent_t *e)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    p++;
    /* field 3 is the state; we want 4 (ppid), 14-17 (times), 24 (rss) */
    unsigned long long f[25] = {0};
    int field = 2;
    char *save = NULL;
    for (char *tok = strtok_r(p, " ", &save); tok && field < 24; tok = strtok_r(NULL, " ", &save)) {
        field++;
        if (field >= 4)
            f[field] = strtoull(tok, NULL, 10);
    }
    if (field < 24)
        return -1;
    e->pid = pid;
    e->ppid = (pid_t)f[4];
    e->ticks = f[14] + f[15] + f[16] + f[17];
    e->rss_pages = (int64_t)f[24];
    e->owner = -1;
    return 0;
}

/* Orders entries by pid. */
static int by_pid(const void *a, const void *b)
{
    pid_t x = ((const pent_t *)a)->pid, y = ((const pent_t *)b)->pid;
    return x < y ? -1 : x > y;
}

/* Walks /proc once; processes that vanish meanwhile are skipped. */
int ptree_scan(ptree_t *t)
{
    t->v = NULL;
    t->n = 0;
    DIR *d = opendir("/proc");
    if (!d)
        return -1;
    int cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        char *end = NULL;
        long pid = strtol(de->d_name, &end, 10);
        if (!de->d_name[0] || *end || pid <= 0)
            continue;
        if (t->n == cap) {
            int nc = cap ? cap * 2 : 512;
            pent_t *nv = realloc(t->v, (size_t)nc * sizeof *nv);
            if (!nv) {
                closedir(d);
                ptree_free(t);
                return -1;
            }
            t->v = nv;
            cap = nc;
        }
        if (read_stat((pid_t)pid, &t->v[t->n]) == 0)
            t->n++;
    }
    closedir(d);
    if (t->n > 1)
        qsort(t->v, (size_t)t->n, sizeof *t->v, by_pid);
    return 0;
}

/* Index of pid in the sorted table, or -1. */
static int find(const ptree_t *t, pid_t pid)
{
    int lo = 0, hi = t->n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (t->v[mid].pid == pid)
            return mid;
        if (t->v[mid].pid < pid)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

/* Follows parents up to a root; results are memoized along the way
 * (owner -2 = not computed yet). */
void ptree_assign(ptree_t *t, const pid_t *roots, int nroots)
{
    for (int i = 0; i < t->n; i++)
        t->v[i].owner = -2;
    for (int r = 0; r < nroots; r++) {
        int i = roots[r] > 0 ? find(t, roots[r]) : -1;
        if (i >= 0)
            t->v[i].owner = r;
    }
    int chain[256];
    for (int i = 0; i < t->n; i++) {
        int len = 0, j = i, owner = -1;
        while (j >= 0 && len < 256) {
            if (t->v[j].owner != -2) {
                owner = t->v[j].owner;
                break;
            }
            chain[len++] = j;
            if (t->v[j].ppid <= 1)
                break;
            j = find(t, t->v[j].ppid);
        }
        for (int k = 0; k < len; k++)
            t->v[chain[k]].owner = owner;
    }
}

void ptree_free(ptree_t *t)
{
    free(t->v);
    t->v = NULL;
    t->n = 0;
}
