# The PostgreSQL extension (PGXS).  `make && make install` builds and
# installs the extension alone into the server found by $(PG_CONFIG); it
# needs only postgresql-server-dev-15 and libcurl.  `make tools` builds the
# local test hosts under hosts/ (sandboxd, modeld: they also need
# pkg-config, libmicrohttpd-dev and libjansson-dev).  `make installcheck`
# runs the pg_regress suite against the server named by the PG* variables,
# with a sandboxd of its own (test/run-installcheck.sh).

EXTENSION   = sandbox
EXTVERSION  = 1.1
MODULE_big  = sandbox
OBJS        = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))
# the current version's script, the older full script and the upgrade path
DATA        = sandbox--$(EXTVERSION).sql sandbox--1.0.sql sandbox--1.0--1.1.sql
PGFILEDESC  = "sandbox - E2B sandboxes and agent runs from PostgreSQL"

PG_CPPFLAGS = -Isrc -DEXTVERSION=\"$(EXTVERSION)\"
PG_CFLAGS   = -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter \
              -Wno-missing-field-initializers -Wno-sign-compare
# PostgreSQL's own CFLAGS were chosen for gcc: clang warns about some of
# them (-fexcess-precision=standard, -Wno-stringop-truncation...).  Those are
# not our warnings, so -Werror must not turn them into errors.
ifneq (,$(findstring clang,$(shell $(CC) --version 2>/dev/null | head -n1)))
PG_CFLAGS  += -Wno-unknown-warning-option -Wno-ignored-optimization-argument \
              -Wno-unused-command-line-argument
# and PostgreSQL's headers use gcc's format(gnu_printf): read them as system
# headers, whose warnings are not ours either
PG_CPPFLAGS += -isystem $(shell $(PG_CONFIG) --includedir-server)
endif
SHLIB_LINK  = -lcurl

# pg_regress suites (sql/, expected/), run against a live cluster by
# test/run-regress.sh, which starts sandboxd first.
REGRESS      = $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))
REGRESS_OPTS = --inputdir=. --dbname=sandbox_regress

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# every object depends on every header: small project, always correct
$(OBJS): $(wildcard src/*.h)

.PHONY: tools sandboxd modeld clean-tools
tools: sandboxd modeld
sandboxd:
	$(MAKE) -C hosts/sandboxd
modeld:
	$(MAKE) -C hosts/modeld
clean-tools:
	$(MAKE) -C hosts/sandboxd clean
	$(MAKE) -C hosts/modeld clean

# make installcheck: pg_regress against the server the PG* variables name,
# run through test/run-installcheck.sh, which starts a sandboxd of its own,
# points the suite's sessions at it (PGOPTIONS), fails if a sandbox is left
# live, and stops it.  (PGXS's own definition, with the wrapper in front of
# pg_regress; its database is sandbox_regress, not contrib_regression.)
CONTRIB_TESTDB = sandbox_regress
pg_regress_installcheck = \
    $(srcdir)/test/run-installcheck.sh \
    $(top_builddir)/src/test/regress/pg_regress \
    --inputdir=$(srcdir) \
    --bindir='$(bindir)' \
    $(pg_regress_locale_flags) $(EXTRA_REGRESS_OPTS)
