/* hostile.c - hostile JSON shapes and their placeholders (see hostile.h). */
#include "hostile.h"

#include "buf.h"

#include <stdlib.h>
#include <string.h>

/* Placeholders: control characters make them impossible to mistake for the
 * text of a real answer (and jansson escapes them as \u0001). */
static const char *const marks[RAW_NSLOTS] = {
    "\x01modeld-raw:text\x01",
    "\x01modeld-raw:input\x01",
    "\x01modeld-raw:usage\x01",
};

shape_t shape_parse(const char *name)
{
    static const struct {
        const char *name;
        shape_t shape;
    } names[] = {
        {"bignum", SHAPE_BIGNUM},
        {"negbignum", SHAPE_NEGBIGNUM},
        {"longint", SHAPE_LONGINT},
        {"deep", SHAPE_DEEP},
    };
    for (size_t i = 0; name && i < sizeof names / sizeof *names; i++)
        if (strcmp(name, names[i].name) == 0)
            return names[i].shape;
    return SHAPE_NONE;
}

/* Builds the raw text; longint repeats 1234567890 (no leading zero). */
char *shape_json(shape_t s, int digits, int depth)
{
    switch (s) {
    case SHAPE_BIGNUM:
        return strdup("1e999999");
    case SHAPE_NEGBIGNUM:
        return strdup("-1e999999");
    case SHAPE_LONGINT: {
        size_t n = digits > 0 ? (size_t)digits : 1;
        char *t = malloc(n + 1);
        if (!t)
            return NULL;
        for (size_t i = 0; i < n; i++)
            t[i] = (char)('0' + (i + 1) % 10);
        t[n] = '\0';
        return t;
    }
    case SHAPE_DEEP: {
        size_t n = depth > 0 ? (size_t)depth : 1;
        char *t = malloc(2 * n + 1);
        if (!t)
            return NULL;
        memset(t, '[', n);
        memset(t + n, ']', n);
        t[2 * n] = '\0';
        return t;
    }
    case SHAPE_NONE:
    default:
        return NULL;
    }
}

json_t *hostile_mark(raw_slot_t slot)
{
    return json_string(marks[slot]);
}

int hostile_any(char *const raw[RAW_NSLOTS])
{
    for (int i = 0; i < RAW_NSLOTS; i++)
        if (raw[i])
            return 1;
    return 0;
}

/* Dumps, then copies the text once, replacing each quoted placeholder. */
char *hostile_dumps(const json_t *v, char *const raw[RAW_NSLOTS])
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!s || !hostile_any(raw))
        return s;
    char *quoted[RAW_NSLOTS] = {0};
    int rc = 0;
    for (int i = 0; i < RAW_NSLOTS && rc == 0; i++) {
        if (!raw[i])
            continue;
        json_t *m = hostile_mark((raw_slot_t)i);
        quoted[i] = m ? json_dumps(m, JSON_ENCODE_ANY) : NULL;
        json_decref(m);
        if (!quoted[i])
            rc = -1;
    }
    /* next[i]: the next occurrence of slot i's placeholder at or after p
     * (placeholders are whole JSON strings, so they never overlap) */
    const char *next[RAW_NSLOTS] = {0};
    for (int i = 0; i < RAW_NSLOTS && rc == 0; i++)
        if (quoted[i])
            next[i] = strstr(s, quoted[i]);
    buf_t out;
    buf_init(&out);
    const char *p = s;
    while (rc == 0) {
        int slot = -1;
        for (int i = 0; i < RAW_NSLOTS; i++)
            if (next[i] && (slot < 0 || next[i] < next[slot]))
                slot = i;
        if (slot < 0) {
            rc = buf_puts(&out, p);
            break;
        }
        if (buf_append(&out, p, (size_t)(next[slot] - p)) < 0 || buf_puts(&out, raw[slot]) < 0)
            rc = -1;
        p = next[slot] + strlen(quoted[slot]);
        next[slot] = strstr(p, quoted[slot]);
    }
    for (int i = 0; i < RAW_NSLOTS; i++)
        free(quoted[i]);
    free(s);
    if (rc < 0) {
        buf_free(&out);
        return NULL;
    }
    char *res = buf_steal(&out, NULL);
    return res ? res : strdup("");
}
