/*
 * hostile.h - answers that pass a JSON lexer but break a stricter parser.
 *
 * The hostile_* directives put one of these shapes where the client reads a
 * value of the answer:
 *
 *   bignum      1e999999           (outside PostgreSQL numeric's range)
 *   negbignum   -1e999999
 *   longint     a 200000-digit integer (hostile_digits=N), beyond numeric's
 *               131072 digits before the point
 *   deep        100000 nested arrays [[[...]]] (hostile_depth=N), beyond
 *               PostgreSQL's default stack depth
 *
 * jansson can neither hold 1e999999 (it is a double: inf) nor dump 100000
 * levels on a small thread stack, so a shape travels as a *placeholder*:
 * the renderers put hostile_mark(slot) (a JSON string no client sends)
 * where the raw value goes, and hostile_dumps() replaces each quoted
 * placeholder with the raw JSON text of its slot.
 */
#ifndef MODELD_HOSTILE_H
#define MODELD_HOSTILE_H

#include <jansson.h>

/* A hostile shape. */
typedef enum {
    SHAPE_NONE = 0,
    SHAPE_BIGNUM,
    SHAPE_NEGBIGNUM,
    SHAPE_LONGINT,
    SHAPE_DEEP,
} shape_t;

#define HOSTILE_DIGITS_DEFAULT 200000
#define HOSTILE_DEPTH_DEFAULT 100000
#define HOSTILE_SIZE_MAX 10000000 /* largest hostile_digits / hostile_depth */

/* Where a raw value goes in an answer (one placeholder per slot). */
typedef enum {
    RAW_TEXT = 0, /* the answer text field (hostile_text) */
    RAW_INPUT,    /* every tool-call argument value (hostile_input) */
    RAW_USAGE,    /* every usage token count (hostile_usage) */
    RAW_NSLOTS,
} raw_slot_t;

/* Parses a shape name (bignum, negbignum, longint, deep); SHAPE_NONE when
 * unknown. */
shape_t shape_parse(const char *name);

/* The raw JSON text of a shape: malloc'd, NULL when out of memory.
 * `digits` sizes longint, `depth` sizes deep. */
char *shape_json(shape_t s, int digits, int depth);

/* A new JSON string holding the placeholder of `slot`. */
json_t *hostile_mark(raw_slot_t slot);

/* Compact dump of `v` (ENCODE_ANY) in which every placeholder of a slot
 * whose raw[slot] is not NULL is replaced by raw[slot].  `v` is not
 * consumed.  Returns a malloc'd string, NULL when out of memory. */
char *hostile_dumps(const json_t *v, char *const raw[RAW_NSLOTS]);

/* True when some raw[slot] is set. */
int hostile_any(char *const raw[RAW_NSLOTS]);

#endif
