/*-------------------------------------------------------------------------
 *
 * reaper.h
 *	  The worker's reaper: kills sandboxes no live run or user owns.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SANDBOX_REAPER_H
#define SANDBOX_REAPER_H

#include "postgres.h"
#include "nodes/pg_list.h"

#include "e2b.h"
#include "evloop.h"

#define REAPER_OWNER_TAG (-2)

typedef struct Reaper
{
	MemoryContext cxt;
	HttpRequest *req;			/* a listing page in flight */
	char	   *query;
	List	   *entries;		/* listed sandboxes */
	int			pages;
	bool		ready;			/* listing complete: decide in the next pass */
	bool		failed;
	char	   *error;
	TimestampTz started_at;
	uint64		expired;
} Reaper;

extern void reaper_init(Reaper *r, MemoryContext parent);
extern void reaper_start(Reaper *r, EventLoop *ev);
extern void reaper_on_done(Reaper *r, EventLoop *ev, HttpRequest *req);
extern List *reaper_decide(Reaper *r, const char *schema, MemoryContext cxt);

#endif							/* SANDBOX_REAPER_H */
