/*-------------------------------------------------------------------------
 *
 * live.h
 *	  Live output: what a running command or piece of code printed since it
 *	  was last shown, held for the next tool_output event (live.c).
 *
 * The stream decoders (e2b.c) append to a sink as bytes arrive; the agent
 * takes what is pending at most every sandbox.live_output_interval.  A
 * sink holds at most LIVE_MAX_PENDING bytes between two takes and at most
 * its total budget over its life: what does not fit is counted, never
 * kept, so memory per run stays bounded however much a command prints.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SANDBOX_LIVE_H
#define SANDBOX_LIVE_H

#include "pgcompat.h"

#include "lib/stringinfo.h"

/* the most one tool_output event carries (stdout and stderr together) */
#define LIVE_MAX_PENDING (64 * 1024)

typedef struct LiveSink
{
	StringInfoData out;			/* stdout since the last take */
	StringInfoData err;			/* stderr since the last take */
	int64		budget;			/* bytes it may still accept (its run's total) */
	int64		dropped;		/* bytes refused since the last take */
	int64		dropped_total;	/* ... over its life */
	int64		shown_total;	/* bytes taken over its life */
	bool		active;			/* a stream feeds it */
} LiveSink;

/* What one take returns: text ready for an event (valid UTF-8, no NUL). */
typedef struct LiveChunk
{
	char	   *out;
	char	   *err;
	int64		dropped;
} LiveChunk;

extern void live_init(LiveSink *s, int64 budget);
extern void live_append(LiveSink *s, bool is_stderr, const char *data, size_t len);
extern bool live_pending(const LiveSink *s);
extern bool live_take(LiveSink *s, size_t holdback, LiveChunk *chunk);

#endif							/* SANDBOX_LIVE_H */
