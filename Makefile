# Top-level build: the PostgreSQL extension (PGXS) plus the local test hosts
# (sandboxd, modeld).  `make` builds everything; `make install` installs the
# extension into the server found by $(PG_CONFIG).

EXTENSION   = sandbox
EXTVERSION  = 1.0
MODULE_big  = sandbox
OBJS        = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))
DATA        = sandbox--$(EXTVERSION).sql
PGFILEDESC  = "sandbox - E2B sandboxes and agent runs from PostgreSQL"

PG_CPPFLAGS = -Isrc -DEXTVERSION=\"$(EXTVERSION)\"
PG_CFLAGS   = -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter \
              -Wno-missing-field-initializers -Wno-sign-compare
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
ifndef NO_TOOLS
all: tools
clean: clean-tools
endif
tools: sandboxd modeld
sandboxd:
	$(MAKE) -C sandboxd
modeld:
	$(MAKE) -C modeld
clean-tools:
	$(MAKE) -C sandboxd clean
	$(MAKE) -C modeld clean
