/*-------------------------------------------------------------------------
 *
 * launcher.c
 *	  Several databases (sandbox.databases): a launcher background worker
 *	  that gives each served database its own agent-run workers.
 *
 * Without sandbox.databases nothing here runs: sandbox.workers static
 * workers serve sandbox.database, as before.  With it, one static launcher
 * (connected to no database: it reads only pg_database) looks at
 * pg_database every sandbox.launcher_interval, and at once when a backend
 * asks, and starts the workers as dynamic background workers, each in a
 * slot of shared memory that names its database.  For each database:
 *
 *	- the first worker is a probe: it connects, and if the extension is not
 *	  installed there it leaves at once (exit 0); the launcher looks again
 *	  after sandbox.launcher_interval, or as soon as a backend commits a
 *	  pending run in a database no worker serves (shmem.c wakes us), which
 *	  is what CREATE EXTENSION and a first INSERT do;
 *	- once the probe found the extension, the others start;
 *	- a worker that exits otherwise (an error, SIGTERM) is started again a
 *	  second later, as the postmaster restarts a static one;
 *	- a database that is gone, or no longer to be served, has its workers
 *	  stopped and its slots freed.
 *
 * DROP DATABASE, ALTER DATABASE ... RENAME and CREATE DATABASE ... TEMPLATE
 * refuse to run while another session is connected to that database.  A
 * ProcessUtility hook therefore puts the database on hold (its workers are
 * stopped, and none is started) for the length of the statement, when the
 * caller owns the database; the launcher looks at pg_database again when
 * the hold is released.  A worker the launcher replaced while it was not
 * yet running learns it from a generation number in its slot and leaves.
 *
 * The launcher keeps the handles of the workers it registered (they tell it
 * of a worker that never started); a launcher restarted after an error
 * finds the running workers through their slots.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_database.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/syscache.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"

#include "call_error.h"
#include "e2b.h"
#include "http.h"
#include "json_util.h"
#include "launcher.h"
#include "sandbox.h"
#include "shmem.h"
#include "sql_common.h"

PGDLLEXPORT void sandbox_launcher_main(Datum arg);

/* settings (registered in settings.c) */
char	   *sandbox_databases = NULL;
int			sandbox_launcher_interval = 10;

#define RESTART_DELAY_MS 1000	/* as bgw_restart_time for static workers */
#define REGISTER_RETRY_MS 5000	/* no free background worker slot */
#define HOLD_MAX_MS 60000		/* a hold lapses after this at the latest */
#define HOLD_WAIT_MS 10000		/* a statement waits this long for workers */
#define RESCAN_MIN_MS 1000		/* backends' requests rescan at most this often */
#define CLEANUP_PAGE 100		/* sandboxes listed per page */
#define CLEANUP_MAX_PAGES 50

/* what a launched worker finds in its bgw_extra */
typedef struct LaunchInfo
{
	Oid			database;
	uint32		generation;
} LaunchInfo;

typedef enum DbState
{
	DB_PROBING,					/* one worker started to look */
	DB_SERVED,					/* the extension is there: all workers */
	DB_NO_EXTENSION				/* not there: look again at probe_at */
} DbState;

/* a database to serve, as the last look at pg_database found it */
typedef struct DbEntry
{
	Oid			oid;
	char		name[NAMEDATALEN];
	bool		present;		/* found and wanted by the last scan */
	bool		exists;			/* found at all by the last scan */
	bool		ever_served;	/* the extension was there: it may own sandboxes */
	DbState		state;
	TimestampTz probe_at;
	int			missing;		/* workers it is short of (no free slot) */
} DbEntry;

/* the launcher's own view of a slot */
typedef struct LaunchedSlot
{
	Oid			database;		/* InvalidOid: free */
	BackgroundWorkerHandle *handle; /* NULL: adopted, or waiting to start */
	TimestampTz start_at;		/* no process: start one then */
	bool		stopping;		/* we asked it to stop */
} LaunchedSlot;

typedef struct Launcher
{
	MemoryContext cxt;
	List	   *dbs;			/* DbEntry * */
	LaunchedSlot slots[SANDBOX_MAX_WORKERS];
	TimestampTz next_scan;
	TimestampTz last_scan;
	List	   *warned;			/* names already warned about (char *) */
	List	   *dropped;		/* OIDs of dropped databases whose sandboxes to kill */
	int			slots_warned;	/* the shortage last logged */
} Launcher;

static ProcessUtility_hook_type prev_process_utility = NULL;

/* the parsed list: '*' (all) or names */
static bool list_parsed = false;
static bool list_all = false;
static List *list_names = NIL;

/*
 * parse_databases reads sandbox.databases once per process; an invalid
 * value is an error (at preload: the server does not start).
 */
static void
parse_databases(void)
{
	char	   *raw;
	List	   *elems = NIL;
	ListCell   *lc;
	MemoryContext old;

	if (list_parsed)
		return;
	old = MemoryContextSwitchTo(TopMemoryContext);
	raw = pstrdup(sandbox_databases ? sandbox_databases : "");
	if (!SplitGUCList(raw, ',', &elems))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for sandbox.databases: \"%s\"", sandbox_databases),
				 errdetail("List syntax is invalid."),
				 errhint("Write database names separated by commas (double-quote a name that holds a comma), or *.")));
	foreach(lc, elems)
	{
		char	   *name = lfirst(lc);

		if (strcmp(name, "*") == 0)
			list_all = true;
		else if (name[0] != '\0')
			list_names = lappend(list_names, pstrdup(name));
	}
	MemoryContextSwitchTo(old);
	list_parsed = true;
}

/*
 * launcher_enabled tells whether sandbox.databases is set: a launcher
 * serves the databases, not static workers.
 */
bool
launcher_enabled(void)
{
	if (sandbox_databases == NULL)
		return false;
	for (const char *p = sandbox_databases; *p; p++)
		if (!isspace((unsigned char) *p))
			return true;
	return false;
}

/*
 * launcher_register registers the launcher (at preload), after checking
 * the list; a list longer than the slots allow is said at once.
 */
void
launcher_register(void)
{
	BackgroundWorker bgw;

	parse_databases();
	if (!list_all && list_length(list_names) * sandbox_workers > SANDBOX_MAX_WORKERS)
		ereport(WARNING,
				(errmsg("sandbox.databases names %d databases of %d workers each (sandbox.workers), more than the %d worker slots",
						list_length(list_names), sandbox_workers, SANDBOX_MAX_WORKERS),
				 errdetail("Databases that find no free slot get fewer workers, or none; sandbox_worker_status() says so in each."),
				 errhint("Lower sandbox.workers, or serve fewer databases.")));
	memset(&bgw, 0, sizeof(bgw));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
	bgw.bgw_restart_time = 1;
	snprintf(bgw.bgw_library_name, BGW_MAXLEN, "sandbox");
	snprintf(bgw.bgw_function_name, BGW_MAXLEN, "sandbox_launcher_main");
	snprintf(bgw.bgw_name, BGW_MAXLEN, "sandbox launcher");
	snprintf(bgw.bgw_type, BGW_MAXLEN, "sandbox launcher");
	RegisterBackgroundWorker(&bgw);
}

/* ---------------------------------------------------------------------
 * Backends: requests and holds
 * --------------------------------------------------------------------- */

/*
 * wake_launcher sets the launcher's latch, if it runs.
 */
static void
wake_launcher(void)
{
	LauncherShared *ls = &sandbox_shared->launcher;
	int			procno;

	SpinLockAcquire(&ls->mutex);
	procno = ls->pid != 0 ? ls->procno : -1;
	SpinLockRelease(&ls->mutex);
	if (procno >= 0)
		SetLatch(&ProcGlobal->allProcs[procno].procLatch);
}

/*
 * launcher_request_database asks the launcher to look at a database no
 * worker serves (a run was queued there): the extension may just have been
 * created.  Without the launcher, nothing to do.
 */
void
launcher_request_database(Oid database)
{
	LauncherShared *ls;
	bool		wake = true;

	if (sandbox_shared == NULL || !launcher_enabled())
		return;
	ls = &sandbox_shared->launcher;
	SpinLockAcquire(&ls->mutex);
	for (int i = 0; i < ls->nrequests; i++)
		if (ls->requests[i] == database)
			wake = false;		/* asked already, not yet seen */
	if (wake && ls->nrequests < LAUNCHER_MAX_REQUESTS)
		ls->requests[ls->nrequests++] = database;
	else if (wake)
		ls->rescan = true;
	SpinLockRelease(&ls->mutex);
	if (wake)
		wake_launcher();
}

/*
 * launcher_missing_workers says how many of a database's workers found no
 * free slot.
 */
int
launcher_missing_workers(Oid database)
{
	LauncherShared *ls;
	int			missing = 0;

	if (sandbox_shared == NULL || !launcher_enabled())
		return 0;
	ls = &sandbox_shared->launcher;
	SpinLockAcquire(&ls->mutex);
	for (int i = 0; i < ls->nshort; i++)
		if (ls->shorts[i].database == database)
			missing = ls->shorts[i].missing;
	SpinLockRelease(&ls->mutex);
	return missing;
}

/*
 * is_template tells whether a database is a template.
 */
static bool
is_template(Oid database)
{
	HeapTuple	tup = SearchSysCache1(DATABASEOID, ObjectIdGetDatum(database));
	bool		template = false;

	if (HeapTupleIsValid(tup))
	{
		template = ((Form_pg_database) GETSTRUCT(tup))->datistemplate;
		ReleaseSysCache(tup);
	}
	return template;
}

/*
 * launcher_unserved tells, with sandbox.databases set, whether runs queued
 * in the current database would wait for ever, and why (for triggers.c's
 * warning).  Other databases' names are not told: the setting is
 * superuser-only.
 */
bool
launcher_unserved(const char **why, const char **hint)
{
	char	   *here = get_database_name(MyDatabaseId);
	bool		listed = false;
	ListCell   *lc;

	parse_databases();
	foreach(lc, list_names)
		listed |= here != NULL && strcmp(lfirst(lc), here) == 0;
	if (!list_all && !listed)
	{
		*why = "sandbox.databases does not name this database.";
		*hint = psprintf("Add %s to sandbox.databases and restart the server.",
						 quote_identifier(here ? here : ""));
		return true;
	}
	if (!listed && is_template(MyDatabaseId))
	{
		*why = "sandbox.databases = '*' serves databases that allow connections and are not templates; this one is a template.";
		*hint = "Name it in sandbox.databases, or queue runs in another database.";
		return true;
	}
	if (launcher_missing_workers(MyDatabaseId) >= sandbox_workers && sandbox_workers > 0)
	{
		*why = psprintf("Other databases hold all %d worker slots.", SANDBOX_MAX_WORKERS);
		*hint = "Lower sandbox.workers, or serve fewer databases, and restart the server.";
		return true;
	}
	return false;
}

/*
 * database_has_workers tells whether a worker process of the database is
 * still attached to its slot.
 */
static bool
database_has_workers(Oid database)
{
	for (int i = 0; i < SANDBOX_MAX_WORKERS; i++)
	{
		WorkerSlot *s = &sandbox_shared->slots[i];
		bool		found;

		SpinLockAcquire(&s->mutex);
		found = s->database == database && s->pid != 0;
		SpinLockRelease(&s->mutex);
		if (found)
			return true;
	}
	return false;
}

/*
 * hold_database stops the workers of a database its owner is about to
 * drop, rename or copy (PostgreSQL refuses while others are connected),
 * and keeps them away until release_hold.  Returns the database held, or
 * InvalidOid.  Waits at most HOLD_WAIT_MS; the statement then reports what
 * it finds as usual.
 */
static Oid
hold_database(const char *dbname)
{
	LauncherShared *ls = &sandbox_shared->launcher;
	Oid			database = get_database_oid(dbname, true);
	bool		held = false;
	bool		launcher_runs;
	int			slot = 0;
	TimestampTz until;
	TimestampTz give_up;

	/* only its owner may: anyone else would merely interrupt its runs */
	if (!OidIsValid(database) || !pg_database_ownercheck(database, GetUserId()))
		return InvalidOid;
	until = GetCurrentTimestamp() + HOLD_MAX_MS * (TimestampTz) 1000;
	SpinLockAcquire(&ls->mutex);
	for (int i = 0; i < LAUNCHER_MAX_HOLDS && !held; i++)
		if (!OidIsValid(ls->holds[i].database))
		{
			ls->holds[i].database = database;
			ls->holds[i].until = until;
			ls->holds[i].seen = false;
			slot = i;
			held = true;
		}
	launcher_runs = ls->pid != 0;
	SpinLockRelease(&ls->mutex);
	if (!held)
		return InvalidOid;
	wake_launcher();
	give_up = GetCurrentTimestamp() + HOLD_WAIT_MS * (TimestampTz) 1000;

	/*
	 * The launcher stops the workers and withdraws those registered but not
	 * started yet (then it marks the hold seen); a launcher being restarted
	 * does that first thing.  Then the workers' processes must be gone.
	 */
	for (;;)
	{
		bool		seen;

		SpinLockAcquire(&ls->mutex);
		seen = ls->holds[slot].seen || ls->pid == 0;
		SpinLockRelease(&ls->mutex);
		if ((seen || !launcher_runs) && !database_has_workers(database))
			break;
		if (GetCurrentTimestamp() >= give_up)
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 10,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	return database;
}

/*
 * release_hold lets the launcher serve the database again (if it still
 * exists) and has it look at pg_database at once.
 */
static void
release_hold(Oid database)
{
	LauncherShared *ls = &sandbox_shared->launcher;

	SpinLockAcquire(&ls->mutex);
	for (int i = 0; i < LAUNCHER_MAX_HOLDS; i++)
		if (ls->holds[i].database == database)
		{
			ls->holds[i].database = InvalidOid;
			break;
		}
	ls->rescan = true;
	SpinLockRelease(&ls->mutex);
	wake_launcher();
}

/*
 * held_database names the database a statement needs without other
 * sessions: DROP DATABASE, ALTER DATABASE ... RENAME, CREATE DATABASE ...
 * TEMPLATE; NULL for any other statement.
 */
static const char *
held_database(Node *stmt)
{
	switch (nodeTag(stmt))
	{
		case T_DropdbStmt:
			return ((DropdbStmt *) stmt)->dbname;
		case T_RenameStmt:
			if (((RenameStmt *) stmt)->renameType == OBJECT_DATABASE)
				return ((RenameStmt *) stmt)->subname;
			return NULL;
		case T_CreatedbStmt:
			{
				ListCell   *lc;

				foreach(lc, ((CreatedbStmt *) stmt)->options)
				{
					DefElem    *d = lfirst(lc);

					if (strcmp(d->defname, "template") == 0 && d->arg != NULL)
						return defGetString(d);
				}
				return NULL;
			}
		default:
			return NULL;
	}
}

/*
 * process_utility holds a served database for the statements that need it
 * alone (see held_database).
 */
static void
process_utility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
				ProcessUtilityContext context, ParamListInfo params,
				QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	volatile Oid held = InvalidOid;
	const char *dbname = NULL;

	if (sandbox_shared != NULL && pstmt->utilityStmt != NULL)
		dbname = held_database(pstmt->utilityStmt);
	if (dbname != NULL)
		held = hold_database(dbname);
	PG_TRY();
	{
		if (prev_process_utility)
			prev_process_utility(pstmt, queryString, readOnlyTree, context, params,
								 queryEnv, dest, qc);
		else
			standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
									queryEnv, dest, qc);
	}
	PG_FINALLY();
	{
		if (OidIsValid(held))
			release_hold(held);
	}
	PG_END_TRY();
}

/*
 * launcher_install_hooks installs the ProcessUtility hook (at preload,
 * with sandbox.databases set).
 */
void
launcher_install_hooks(void)
{
	prev_process_utility = ProcessUtility_hook;
	ProcessUtility_hook = process_utility;
}

/* ---------------------------------------------------------------------
 * Workers: start-up
 * --------------------------------------------------------------------- */

/*
 * launcher_worker_wanted tells a starting worker whether its slot is still
 * its own: the launcher may have launched a successor while it waited to
 * start.  Static workers always are.
 */
bool
launcher_worker_wanted(int index)
{
	WorkerSlot *s = &sandbox_shared->slots[index];
	LaunchInfo	info;
	bool		mine;

	if (!launcher_enabled())
		return true;
	memcpy(&info, MyBgworkerEntry->bgw_extra, sizeof(info));
	SpinLockAcquire(&s->mutex);
	mine = s->generation == info.generation && s->database == info.database && s->pid == 0;
	SpinLockRelease(&s->mutex);
	return mine;
}

/*
 * launcher_worker_connect connects a worker to its database.  A launched
 * worker then checks for the extension, and leaves (exit 0, not restarted)
 * when it is not installed: the launcher looks again later.
 */
void
launcher_worker_connect(WorkerSlot *slot)
{
	LaunchInfo	info;
	bool		present;

	if (!launcher_enabled())
	{
		BackgroundWorkerInitializeConnection(sandbox_database, NULL, 0);
		SpinLockAcquire(&slot->mutex);
		slot->database = MyDatabaseId;
		SpinLockRelease(&slot->mutex);
		return;
	}
	memcpy(&info, MyBgworkerEntry->bgw_extra, sizeof(info));
	BackgroundWorkerInitializeConnectionByOid(info.database, InvalidOid, 0);
	StartTransactionCommand();
	present = OidIsValid(get_extension_oid("sandbox", true));
	CommitTransactionCommand();
	pg_atomic_write_u32(&slot->probe, present ? PROBE_EXTENSION : PROBE_NO_EXTENSION);
	/* the launcher starts the database's other workers once it knows */
	wake_launcher();
	if (!present)
	{
		ereport(DEBUG1, (errmsg("sandbox worker: no extension in database \"%s\"", slot->dbname)));
		proc_exit(0);
	}
}

/* ---------------------------------------------------------------------
 * The launcher
 * --------------------------------------------------------------------- */

/*
 * after_ms is the time ms milliseconds from now.
 */
static TimestampTz
after_ms(long ms)
{
	return GetCurrentTimestamp() + (TimestampTz) ms * 1000;
}

/*
 * find_db returns the entry of a database, or NULL.
 */
static DbEntry *
find_db(Launcher *l, Oid oid)
{
	ListCell   *lc;

	foreach(lc, l->dbs)
	{
		DbEntry    *e = lfirst(lc);

		if (e->oid == oid)
			return e;
	}
	return NULL;
}

/*
 * warn_once logs a warning about a name once per launcher process.
 */
static bool
warn_once(Launcher *l, const char *name)
{
	ListCell   *lc;
	MemoryContext old;

	foreach(lc, l->warned)
		if (strcmp(lfirst(lc), name) == 0)
		return false;
	old = MemoryContextSwitchTo(l->cxt);
	l->warned = lappend(l->warned, pstrdup(name));
	MemoryContextSwitchTo(old);
	return true;
}

/*
 * scan_databases reads pg_database: which databases to serve now.
 */
static void
scan_databases(Launcher *l)
{
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	ListCell   *lc;
	List	   *found = NIL;
	MemoryContext old;

	foreach(lc, l->dbs)
	{
		((DbEntry *) lfirst(lc))->present = false;
		((DbEntry *) lfirst(lc))->exists = false;
	}

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	(void) GetTransactionSnapshot();
	pgstat_report_activity(STATE_RUNNING, "sandbox launcher: reading pg_database");
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database d = (Form_pg_database) GETSTRUCT(tup);
		const char *name = NameStr(d->datname);
		bool		wanted;
		DbEntry    *e;

		/* a DROP DATABASE under way marks it invalid first: as good as gone */
		if (database_is_invalid_form(d))
			continue;
		e = find_db(l, d->oid);
		if (e != NULL)
			e->exists = true;
		if (list_all)
			wanted = d->datallowconn && !d->datistemplate;
		else
		{
			wanted = false;
			foreach(lc, list_names)
				if (strcmp(lfirst(lc), name) == 0)
				wanted = true;
			if (wanted)
				found = lappend(found, pstrdup(name));
			if (wanted && !d->datallowconn)
			{
				if (warn_once(l, name))
					ereport(WARNING,
							(errmsg("sandbox launcher: database \"%s\" (sandbox.databases) does not allow connections: it is not served", name)));
				wanted = false;
			}
		}
		if (!wanted)
			continue;
		if (e == NULL)
		{
			e = MemoryContextAllocZero(l->cxt, sizeof(DbEntry));
			e->oid = d->oid;
			e->exists = true;
			e->state = DB_PROBING;
			old = MemoryContextSwitchTo(l->cxt);
			l->dbs = lappend(l->dbs, e);
			MemoryContextSwitchTo(old);
		}
		strlcpy(e->name, name, sizeof(e->name));
		e->present = true;
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);

	/* names of the list that are no database */
	foreach(lc, list_names)
	{
		char	   *name = lfirst(lc);
		bool		seen = false;
		ListCell   *lc2;

		foreach(lc2, found)
			if (strcmp(lfirst(lc2), name) == 0)
			seen = true;
		if (!seen && warn_once(l, name))
			ereport(WARNING,
					(errmsg("sandbox launcher: database \"%s\" (sandbox.databases) does not exist: it is served once it is created", name)));
	}
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
	l->last_scan = GetCurrentTimestamp();
	l->next_scan = after_ms(sandbox_launcher_interval * 1000L);
}

/*
 * launch starts a worker for a database in slot i.  A slot handed to
 * another database starts afresh (counters, errors).
 */
static void
launch(Launcher *l, int i, DbEntry *e)
{
	WorkerSlot *s = &sandbox_shared->slots[i];
	LaunchedSlot *ls = &l->slots[i];
	BackgroundWorker bgw;
	LaunchInfo	info;
	bool		same;

	SpinLockAcquire(&s->mutex);
	same = s->database == e->oid;
	SpinLockRelease(&s->mutex);
	if (!same)
		sandbox_slot_reset(s);
	SpinLockAcquire(&s->mutex);
	s->database = e->oid;
	strlcpy(s->dbname, e->name, sizeof(s->dbname));
	info.database = e->oid;
	info.generation = ++s->generation;
	SpinLockRelease(&s->mutex);
	pg_atomic_write_u32(&s->probe, PROBE_UNKNOWN);

	memset(&bgw, 0, sizeof(bgw));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
	bgw.bgw_restart_time = BGW_NEVER_RESTART;	/* we do it */
	snprintf(bgw.bgw_library_name, BGW_MAXLEN, "sandbox");
	snprintf(bgw.bgw_function_name, BGW_MAXLEN, "sandbox_worker_main");
	snprintf(bgw.bgw_name, BGW_MAXLEN, "sandbox worker %d (%s)", i + 1, e->name);
	snprintf(bgw.bgw_type, BGW_MAXLEN, "sandbox worker");
	bgw.bgw_main_arg = Int32GetDatum(i);
	memcpy(bgw.bgw_extra, &info, sizeof(info));
	bgw.bgw_notify_pid = MyProcPid;

	ls->database = e->oid;
	ls->stopping = false;
	ls->start_at = 0;
	if (ls->handle)
		pfree(ls->handle);
	ls->handle = NULL;
	if (!RegisterDynamicBackgroundWorker(&bgw, &ls->handle))
	{
		ls->handle = NULL;
		ls->start_at = after_ms(REGISTER_RETRY_MS);
		if (warn_once(l, "max_worker_processes"))
			ereport(WARNING,
					(errmsg("sandbox launcher: no free background worker slot for a worker of database \"%s\"", e->name),
					 errhint("Raise max_worker_processes (each served database needs sandbox.workers of them, and the launcher one).")));
	}
}

/*
 * free_slot forgets a slot's database once no process uses it.
 */
static void
free_slot(Launcher *l, int i)
{
	LaunchedSlot *ls = &l->slots[i];

	if (ls->handle)
		pfree(ls->handle);
	memset(ls, 0, sizeof(*ls));
	sandbox_slot_reset(&sandbox_shared->slots[i]);
}

/*
 * stop_slot asks a slot's worker to stop (SIGTERM: it releases its runs).
 */
static void
stop_slot(Launcher *l, int i)
{
	LaunchedSlot *ls = &l->slots[i];
	WorkerSlot *s = &sandbox_shared->slots[i];
	pid_t		pid;

	if (ls->stopping)
		return;
	ls->stopping = true;
	if (ls->handle)
	{
		TerminateBackgroundWorker(ls->handle);
		return;
	}
	/* adopted from an earlier launcher: no handle, only its pid */
	SpinLockAcquire(&s->mutex);
	pid = s->pid;
	SpinLockRelease(&s->mutex);
	if (pid != 0)
		(void) kill(pid, SIGTERM);
}

/*
 * slot_alive tells whether a slot's worker is running or about to.
 */
static bool
slot_alive(Launcher *l, int i)
{
	LaunchedSlot *ls = &l->slots[i];
	WorkerSlot *s = &sandbox_shared->slots[i];
	pid_t		pid;

	if (ls->handle)
		return GetBackgroundWorkerPid(ls->handle, &pid) != BGWH_STOPPED;
	SpinLockAcquire(&s->mutex);
	pid = s->pid;
	SpinLockRelease(&s->mutex);
	return pid != 0;
}

/*
 * is_held tells whether a statement holds the database.
 */
static bool
is_held(DatabaseHold *holds, Oid oid)
{
	for (int i = 0; i < LAUNCHER_MAX_HOLDS; i++)
		if (holds[i].database == oid)
			return true;
	return false;
}

/*
 * reconcile makes the slots match the databases: stops the workers of
 * databases gone, held or no longer served; restarts workers that exited;
 * starts the workers a database lacks.
 */
static void
reconcile(Launcher *l, DatabaseHold *holds, Oid *requests, int nrequests)
{
	LauncherShared *lsh = &sandbox_shared->launcher;
	TimestampTz now = GetCurrentTimestamp();
	ListCell   *lc;
	int			total_missing = 0;	/* workers of served databases */
	int			ndbs_short = 0;
	int			unprobed = 0;	/* databases not yet looked at */
	int			nshort = 0;
	DatabaseShort shorts[LAUNCHER_MAX_SHORT];

	/* 1. the slots in use */
	for (int i = 0; i < SANDBOX_MAX_WORKERS; i++)
	{
		LaunchedSlot *ls = &l->slots[i];
		DbEntry    *e;
		bool		wanted;

		if (!OidIsValid(ls->database))
			continue;
		e = find_db(l, ls->database);
		wanted = e != NULL && e->present && !is_held(holds, e->oid);
		if (slot_alive(l, i))
		{
			if (!wanted)
				stop_slot(l, i);
			else if (e->state == DB_PROBING &&
					 pg_atomic_read_u32(&sandbox_shared->slots[i].probe) == PROBE_EXTENSION)
			{
				e->state = DB_SERVED;
				e->ever_served = true;
			}
			continue;
		}
		/* no process: it just went (start_at 0), or waits to start again */
		if (ls->handle)
		{
			pfree(ls->handle);
			ls->handle = NULL;
		}
		if (ls->start_at == 0)
		{
			bool		no_ext = pg_atomic_read_u32(&sandbox_shared->slots[i].probe) == PROBE_NO_EXTENSION;

			if (no_ext && e != NULL)
			{
				e->state = DB_NO_EXTENSION;
				e->probe_at = after_ms(sandbox_launcher_interval * 1000L);
			}
			if (no_ext || ls->stopping)
			{
				free_slot(l, i);
				continue;
			}
			ls->start_at = after_ms(RESTART_DELAY_MS);
		}
		if (!wanted)
			free_slot(l, i);
		else if (now >= ls->start_at)
			launch(l, i, e);
	}

	/* 2. the databases that lack workers */
	foreach(lc, l->dbs)
	{
		DbEntry    *e = lfirst(lc);
		int			have = 0;
		int			target;

		e->missing = 0;
		if (!e->present || is_held(holds, e->oid))
			continue;
		if (e->state == DB_NO_EXTENSION)
		{
			bool		asked = false;

			for (int r = 0; r < nrequests; r++)
				asked |= requests[r] == e->oid;
			if (!asked && now < e->probe_at)
				continue;
			e->state = DB_PROBING;
		}
		target = e->state == DB_SERVED ? sandbox_workers : Min(1, sandbox_workers);
		for (int i = 0; i < SANDBOX_MAX_WORKERS; i++)
			if (l->slots[i].database == e->oid)
				have++;
		for (int i = 0; i < SANDBOX_MAX_WORKERS && have < target; i++)
			if (!OidIsValid(l->slots[i].database))
			{
				launch(l, i, e);
				have++;
			}
		/* short of slots: a served database lacks some, a new one all */
		if (have < target)
			e->missing = e->state == DB_SERVED ? target - have : sandbox_workers;
		if (e->missing > 0)
		{
			/* a database not yet probed may not have the extension at all */
			if (e->state == DB_SERVED)
			{
				total_missing += e->missing;
				ndbs_short++;
			}
			else
				unprobed++;
			if (nshort < LAUNCHER_MAX_SHORT)
			{
				shorts[nshort].database = e->oid;
				shorts[nshort].missing = e->missing;
				nshort++;
			}
		}
	}

	SpinLockAcquire(&lsh->mutex);
	lsh->nshort = nshort;
	memcpy(lsh->shorts, shorts, nshort * sizeof(DatabaseShort));
	SpinLockRelease(&lsh->mutex);
	if (total_missing + unprobed != l->slots_warned)
	{
		if (total_missing + unprobed > 0)
			ereport(WARNING,
					(errmsg("sandbox launcher: %d workers of %d databases found no free slot, and %d databases wait to be looked at (%d slots in all, sandbox.workers = %d per database)",
							total_missing, ndbs_short, unprobed, SANDBOX_MAX_WORKERS, sandbox_workers),
					 errdetail("sandbox_worker_status() in each of those databases shows the workers it lacks."),
					 errhint("Lower sandbox.workers, or serve fewer databases (sandbox.databases).")));
		else if (l->slots_warned > 0)
			ereport(LOG, (errmsg("sandbox launcher: every served database has all its workers again")));
		l->slots_warned = total_missing + unprobed;
	}
	/* forget databases that are gone and have no slot left */
	foreach(lc, l->dbs)
	{
		DbEntry    *e = lfirst(lc);
		bool		used = false;

		if (e->present)
			continue;
		for (int i = 0; i < SANDBOX_MAX_WORKERS; i++)
			used |= l->slots[i].database == e->oid;
		if (!used)
		{
			/* dropped, not merely no longer served: its sandboxes are orphans */
			if (!e->exists && e->ever_served)
			{
				MemoryContext old = MemoryContextSwitchTo(l->cxt);

				l->dropped = lappend_oid(l->dropped, e->oid);
				MemoryContextSwitchTo(old);
			}
			l->dbs = foreach_delete_current(l->dbs, lc);
			pfree(e);
		}
	}
}

/*
 * list_page_ids appends the sandbox ids of one listing page to ids.
 */
static List *
list_page_ids(HttpRequest *req, List *ids)
{
	Jsonb	   *j = json_parse(http_data(req), http_data_len(req));
	JsonbContainer *arr = j ? json_root(j) : NULL;

	if (arr == NULL || !json_is_array(arr))
		elog(ERROR, "the sandbox listing is not a JSON array");
	for (int i = 0; i < jarr_length(arr); i++)
	{
		char	   *id = json_get_string(json_value_container(jarr_get(arr, i)), "sandboxID");

		if (id != NULL && e2b_valid_sandbox_id(id))
			ids = lappend(ids, id);
	}
	return ids;
}

/*
 * kill_dropped_sandboxes kills the sandboxes a dropped database leaves
 * behind (its tag, as registry.c's sandbox_database_tag() makes it): those
 * of runs its workers released when they stopped for the DROP, and those
 * its users created.  Their rows went with the database, so no reaper will
 * ever look at them again.  Errors are logged, not retried: E2B's timeout
 * still ends them.
 */
static void
kill_dropped_sandboxes(Launcher *l, Oid database)
{
	MemoryContext cxt = AllocSetContextCreate(l->cxt, "sandbox launcher cleanup",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	char	   *query = psprintf(METADATA_PREFIX "db=" UINT64_FORMAT "-%u",
								 GetSystemIdentifier(), database);
	List	   *ids = NIL;
	int			killed = 0;

	/* a key kept in a database's secret store is out of reach from here */
	if (sandbox_e2b_api_key && strncmp(sandbox_e2b_api_key, SETTINGS_SECRET_PREFIX,
									   strlen(SETTINGS_SECRET_PREFIX)) == 0)
	{
		ereport(LOG,
				(errmsg("sandbox launcher: the sandboxes dropped database %u left are not killed: sandbox.e2b_api_key names a secret of a database",
						database),
				 errdetail("They end at their E2B timeout.")));
		MemoryContextSwitchTo(old);
		MemoryContextDelete(cxt);
		return;
	}
	pgstat_report_activity(STATE_RUNNING, "sandbox launcher: killing a dropped database's sandboxes");
	PG_TRY();
	{
		char	   *token = NULL;
		int			pages = 0;
		ListCell   *lc;

		do
		{
			HttpRequest *req = e2b_list_request(query, token, CLEANUP_PAGE, "running,paused");
			CallError	err;

			http_perform_sync(req, NULL, NULL);
			if (call_error_from_http(req, SERVICE_E2B_API, &err))
				elog(ERROR, "listing its sandboxes failed: %s", call_error_describe(&err));
			ids = list_page_ids(req, ids);
			token = req->next_token[0] ? pstrdup(req->next_token) : NULL;
			http_release(req);
		} while (token != NULL && ++pages < CLEANUP_MAX_PAGES);
		foreach(lc, ids)
		{
			HttpRequest *req = e2b_kill_request(lfirst(lc));
			CallError	err;

			http_perform_sync(req, NULL, NULL);
			if (!call_error_from_http(req, SERVICE_E2B_API, &err) || err.kind == CALL_NOT_FOUND)
				killed++;
			else
				ereport(LOG, (errmsg("sandbox launcher: could not kill sandbox %s of dropped database %u: %s",
									 (char *) lfirst(lc), database, call_error_describe(&err))));
			http_release(req);
		}
		if (ids != NIL)
			ereport(LOG, (errmsg("sandbox launcher: killed %d of the %d sandboxes dropped database %u left",
								 killed, list_length(ids), database)));
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		ereport(WARNING,
				(errmsg("sandbox launcher: could not kill the sandboxes dropped database %u left: %s",
						database, edata->message),
				 errhint("They end at their E2B timeout.")));
	}
	PG_END_TRY();
	pgstat_report_activity(STATE_IDLE, NULL);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
}

/*
 * adopt_slots takes over the workers an earlier launcher started (this one
 * was restarted after an error): running ones are kept, the others are
 * started again (a late starter of the earlier launcher sees the new
 * generation and leaves).
 */
static void
adopt_slots(Launcher *l)
{
	for (int i = 0; i < SANDBOX_MAX_WORKERS; i++)
	{
		WorkerSlot *s = &sandbox_shared->slots[i];
		Oid			db;
		pid_t		pid;

		SpinLockAcquire(&s->mutex);
		db = s->database;
		pid = s->pid;
		SpinLockRelease(&s->mutex);
		if (!OidIsValid(db))
			continue;
		l->slots[i].database = db;
		l->slots[i].start_at = pid != 0 ? 0 : GetCurrentTimestamp();
		/* the database's entry comes from the first scan */
	}
}

/*
 * on_launcher_exit tells backends that no launcher runs (until the
 * postmaster starts the next one).
 */
static void
on_launcher_exit(int code, Datum arg)
{
	LauncherShared *lsh = &sandbox_shared->launcher;

	SpinLockAcquire(&lsh->mutex);
	lsh->pid = 0;
	lsh->procno = -1;
	SpinLockRelease(&lsh->mutex);
}

/*
 * sandbox_launcher_main is the entry point of the launcher.
 */
void
sandbox_launcher_main(Datum arg)
{
	Launcher	l;
	LauncherShared *lsh = &sandbox_shared->launcher;

	memset(&l, 0, sizeof(l));
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	/* no database: pg_database is shared */
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname("sandbox launcher");
	parse_databases();
	l.cxt = AllocSetContextCreate(TopMemoryContext, "sandbox launcher", ALLOCSET_DEFAULT_SIZES);

	SpinLockAcquire(&lsh->mutex);
	lsh->pid = MyProcPid;
	lsh->procno = MyProc->pgprocno;
	SpinLockRelease(&lsh->mutex);
	on_shmem_exit(on_launcher_exit, (Datum) 0);
	adopt_slots(&l);
	ereport(LOG, (errmsg("sandbox launcher started: %s, %d workers each",
						 list_all ? "every database with the extension" : sandbox_databases,
						 sandbox_workers)));

	for (;;)
	{
		DatabaseHold holds[LAUNCHER_MAX_HOLDS];
		Oid			requests[LAUNCHER_MAX_REQUESTS];
		int			nrequests;
		bool		rescan;
		TimestampTz now;
		long		sleep_ms = 1000;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			l.next_scan = Min(l.next_scan, l.last_scan + (TimestampTz) sandbox_launcher_interval * USECS_PER_SEC);
		}
		now = GetCurrentTimestamp();
		SpinLockAcquire(&lsh->mutex);
		for (int i = 0; i < LAUNCHER_MAX_HOLDS; i++)
			if (OidIsValid(lsh->holds[i].database) && lsh->holds[i].until < now)
				lsh->holds[i].database = InvalidOid;	/* its backend died */
		memcpy(holds, lsh->holds, sizeof(holds));
		nrequests = lsh->nrequests;
		memcpy(requests, lsh->requests, nrequests * sizeof(Oid));
		lsh->nrequests = 0;
		rescan = lsh->rescan;
		lsh->rescan = false;
		SpinLockRelease(&lsh->mutex);

		/* a request for a database we do not know: a new one, look now */
		for (int r = 0; r < nrequests; r++)
			if (find_db(&l, requests[r]) == NULL && now >= l.last_scan + RESCAN_MIN_MS * (TimestampTz) 1000)
				rescan = true;
		if (rescan || now >= l.next_scan)
			scan_databases(&l);
		reconcile(&l, holds, requests, nrequests);
		/* the holds' workers are stopped or asked to stop: tell their statements */
		SpinLockAcquire(&lsh->mutex);
		for (int i = 0; i < LAUNCHER_MAX_HOLDS; i++)
			if (OidIsValid(holds[i].database) && lsh->holds[i].database == holds[i].database)
				lsh->holds[i].seen = true;
		SpinLockRelease(&lsh->mutex);
		/* at most one dropped database's sandboxes per pass (network calls) */
		if (l.dropped != NIL)
		{
			Oid			gone = linitial_oid(l.dropped);

			l.dropped = list_delete_first(l.dropped);
			kill_dropped_sandboxes(&l, gone);
		}

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, sleep_ms,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
