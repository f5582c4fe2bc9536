# Makefile -- PGXS build of the recs extension, plus the two one-command entry
# points (make demo, make test) that set up a fresh Debian machine themselves.

EXTENSION   = recs
EXTVERSION  = 0.2.0
MODULE_big  = recs
OBJS        = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))
DATA_built  = recs--$(EXTVERSION).sql
# earlier versions' install scripts (frozen) and the update scripts between them
DATA        = $(sort $(wildcard upgrade/recs--*.sql))
EXTRA_CLEAN = recs--$(EXTVERSION).sql

# pg_regress suites: every sql/NAME.sql, in name order
REGRESS      = $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))
REGRESS_OPTS = --inputdir=. --load-extension=recs

# isolation suites: concurrent sessions (test/isolation/specs/NAME.spec)
ISOLATION      = $(patsubst test/isolation/specs/%.spec,%,$(sort $(wildcard test/isolation/specs/*.spec)))
ISOLATION_OPTS = --inputdir=test/isolation --outputdir=test/isolation/output --load-extension=recs

PG_CPPFLAGS = -Wall -Werror -Wmissing-prototypes -I$(srcdir)/src
SHLIB_LINK  = -lopenblas -lm

# no LLVM bitcode: the JIT buys nothing for SPI-driven C, and it would need clang
override with_llvm = no

# rebuild objects when a header they include changes
override autodepend = yes

# Debian's server build, or whatever pg_config is first on PATH
PG_CONFIG ?= $(firstword $(wildcard /usr/lib/postgresql/15/bin/pg_config) pg_config)
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifneq ($(PGXS),)
include $(PGXS)
endif

# The install script has one source: the ordered fragments in src/sql/.
recs--$(EXTVERSION).sql: $(sort $(wildcard src/sql/*.sql))
	cat $^ > $@

.PHONY: demo test
demo:
	bash scripts/demo.sh
test:
	bash scripts/test.sh
