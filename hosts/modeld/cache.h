/*
 * cache.h - deterministic prompt caching (usage.cache_* / cached_tokens).
 *
 * A request's prompt is a sequence of items, in the order the providers
 * cache them: each tool declaration, then (Anthropic) each system block,
 * then each message content block (Anthropic; a string content is one
 * block) or each message (OpenAI).  Prefix point i carries a chained hash
 * of the canonical JSON (compact, sorted keys, without the item's own
 * "cache_control") of items 0..i, started from a namespace hash of
 * provider + API key + model, and the canonical bytes of items 0..i.
 * Tokens at point i = min(bytes_i / 4, prompt tokens - 1), where prompt
 * tokens = request body bytes / 4 (at least 1) as everywhere in modeld.
 *
 * Anthropic (explicit breakpoints: cache_control on a tool, a system block,
 * a message block, or top-level cache_control = the last item):
 *   read:  for each breakpoint b, look back from b over at most 20 points
 *          (b, b-1, ... b-19) for a live entry; R = the latest point found;
 *          cache_read_input_tokens = tokens(R), 0 without a hit.  A hit
 *          refreshes the entry's TTL.
 *   write: each breakpoint b after R whose tokens(b) >= the minimum
 *          (1024; 2048 for a model whose name contains "haiku";
 *          --cache-min-tokens overrides) is stored with its TTL; it adds
 *          tokens(b) - (the previous written point, or R's tokens) to
 *          cache_creation_input_tokens and to cache_creation's
 *          ephemeral_5m / ephemeral_1h count by its ttl.
 *   input_tokens = prompt tokens - read - creation (>= 1).
 * OpenAI (automatic, for prompts of at least 1024 tokens):
 *   read:  the latest point i with tokens(i) >= 1024 that has a live
 *          entry; cached_tokens = 1024 + 128 * floor((tokens(i) - 1024) /
 *          128), 0 without a hit; prompt_tokens stays the whole prompt.
 *   write: every point with tokens >= 1024 (5-minute TTL).
 * TTLs: "5m" = --cache-ttl-ms (default 300000), "1h" = 12 times that.
 * Entries live in memory (at most 1 << 20) until they expire or
 * DELETE /admin/cache.  Only answered calls (no scripted failure) read or
 * write the cache.
 */
#ifndef MODELD_CACHE_H
#define MODELD_CACHE_H

#include "chat.h"

#include <stdint.h>

#define CACHE_TTL_5M 1
#define CACHE_TTL_1H 2

/* Sets the 5-minute TTL (ms) and the minimum cacheable tokens (0 = the
 * providers' own minimum). */
void cache_configure(int64_t ttl_5m_ms, int min_tokens);

/* Starts the prefix chain of `c` (whose provider and model are set) in the
 * namespace of `api_key` (may be NULL). */
void cache_begin(chat_t *c, const char *api_key);

/* Appends one item (tagged by kind, e.g. "tool", "system", "user") as the
 * next prefix point; `ttl` is its breakpoint (0 = none).  Returns 0 or -1
 * when out of memory. */
int cache_add_item(chat_t *c, const char *tag, json_t *item, int ttl);

/* Reads a cache_control value: absent or null -> *ttl = 0;
 * {"type":"ephemeral"} -> CACHE_TTL_5M, with "ttl":"1h" -> CACHE_TTL_1H.
 * Anything else is -1 with a message naming `where`. */
int cache_control_parse(json_t *cc, const char *where, int *ttl, char *err, size_t errsz);

/* Reads and writes the cache for an answered call and sets r->cache_read,
 * r->cache_write_5m and r->cache_write_1h (r->input_tokens must be set). */
void cache_apply(const chat_t *c, reply_t *r);

/* Forgets every entry (DELETE /admin/cache). */
void cache_reset(void);

/* Gauge callback: entries held. */
int64_t cache_count(void *arg);

#endif
