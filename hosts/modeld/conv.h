/*
 * conv.h - per-conversation call counters for the fail_first directive.
 *
 * A conversation is identified by a hash of the first user message's text
 * and whether tools are declared, so a planning call and the execution
 * calls of the same prompt count separately, and every retry or follow-up
 * of one conversation counts towards the same number.  Thread-safe; the
 * counters live until DELETE /admin/conversations or exit.
 */
#ifndef MODELD_CONV_H
#define MODELD_CONV_H

#include <stdbool.h>
#include <stdint.h>

/* The key of a conversation. */
uint64_t conv_key(const char *first_user, bool has_tools);

/* Counts one more call of the conversation and returns the new count
 * (1 for the first call). */
int64_t conv_next(uint64_t key);

/* Number of conversations tracked (a stats gauge). */
int64_t conv_count(void *arg);

/* Forgets every conversation. */
void conv_reset(void);

#endif
