/*-------------------------------------------------------------------------
 *
 * sql_limits.c
 *	  sandbox_limits(): the provider limits the workers share (token
 *	  buckets and the runs' sandboxes alive), as they stand now.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "ratelimit.h"
#include "sandbox.h"

PG_FUNCTION_INFO_V1(sandbox_limits);

/*
 * sandbox_limits returns one row per limit: name, the setting's rate per
 * second (NULL when no limit is set), capacity, tokens available now, until
 * when a provider told us to wait (NULL if not), calls let through, calls
 * held back, and how often a provider asked for a wait.  The sandbox row
 * shows the runs' sandboxes held and sandbox.e2b_max_sandboxes.  No rows
 * when the library is not preloaded (there are no workers).
 */
Datum
sandbox_limits(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TimestampTz now = GetCurrentTimestamp();

	InitMaterializedSRF(fcinfo, 0);
	for (int k = 0; k < RATE_NUM; k++)
	{
		RateView	v;
		Datum		values[8];
		bool		nulls[8] = {0};

		if (!ratelimit_view((RateKind) k, now, &v))
			return (Datum) 0;
		values[0] = CStringGetTextDatum(v.name);
		values[1] = Float8GetDatum(v.rate_per_s);
		nulls[1] = v.rate_per_s <= 0;
		values[2] = Float8GetDatum(v.capacity);
		nulls[2] = v.rate_per_s <= 0;
		values[3] = Float8GetDatum(v.available);
		nulls[3] = v.rate_per_s <= 0;
		values[4] = TimestampTzGetDatum(v.blocked_until);
		nulls[4] = v.blocked_until == 0;
		values[5] = Int64GetDatum((int64) v.taken);
		values[6] = Int64GetDatum((int64) v.held);
		values[7] = Int64GetDatum((int64) v.provider_waits);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	{
		Datum		values[8];
		bool		nulls[8] = {0, 0, 0, 0, 1, 1, 1, 1};

		values[0] = CStringGetTextDatum("e2b_sandboxes");
		values[1] = (Datum) 0;
		nulls[1] = true;
		values[2] = Float8GetDatum((double) sandbox_e2b_max_sandboxes);
		nulls[2] = sandbox_e2b_max_sandboxes <= 0;
		values[3] = Float8GetDatum((double) sandbox_e2b_max_sandboxes - (double) ratelimit_sandboxes_total());
		nulls[3] = sandbox_e2b_max_sandboxes <= 0;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
