/*
 * textutil.h - small text helpers: UTF-8-safe truncation and a stable hash.
 *
 * Every string modeld puts into a JSON answer goes through jansson, which
 * rejects invalid UTF-8, so any cut of client text must land on a character
 * boundary.
 */
#ifndef MODELD_TEXTUTIL_H
#define MODELD_TEXTUTIL_H

#include <stddef.h>
#include <stdint.h>

/* Largest length <= `max` that does not split a UTF-8 sequence of `s`
 * (whose length is `len`). */
size_t utf8_cut(const char *s, size_t len, size_t max);

/* A malloc'd copy of the first half of `s` (UTF-8 safe), used for answers
 * cut short by the max_tokens directive. */
char *text_half(const char *s);

/* 64-bit FNV-1a hash of `len` bytes, continuing from `h` (start with
 * FNV_OFFSET). */
#define FNV_OFFSET 0xcbf29ce484222325ULL
uint64_t fnv1a(uint64_t h, const void *data, size_t len);

#endif
