# Makefile -- PGXS build of the recs extension, plus the one-command entry
# points (make demo, make test, make test-pg17, make memcheck) that set up a
# fresh Debian machine themselves.

EXTENSION   = recs
EXTVERSION  = 0.4.0
MODULE_big  = recs
# the C sources, one folder a subsystem (src/README.md says which is which)
SRC_DIRS    = $(sort $(dir $(wildcard src/*/*.c)))
OBJS        = $(patsubst %.c,%.o,$(sort $(wildcard src/*/*.c)))
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

PG_CPPFLAGS = -Wall -Werror -Wmissing-prototypes $(patsubst %/,-I$(srcdir)/%,$(SRC_DIRS))
SHLIB_LINK  = -lopenblas -lm

# make RECS_SANITIZE=1: an UndefinedBehaviorSanitizer build for
# scripts/memcheck.sh, never for production.  Every report aborts the backend
# (no recovery); float-to-integer overflow is checked too, and -fno-wrapv lets
# UBSan see signed overflow in recs's own code, which must not rely on wrapping.
# libubsan is linked into recs.so, so the server needs no preloading.
ifeq ($(RECS_SANITIZE),1)
PG_CFLAGS  += -fsanitize=undefined,float-cast-overflow -fno-sanitize-recover=all \
              -fno-omit-frame-pointer -fno-wrapv
SHLIB_LINK += -fsanitize=undefined,float-cast-overflow
endif

# The objects remember which of the two builds made them: switching between a
# sanitized and a normal build rebuilds everything instead of mixing objects.
# (The stamp is made while reading the Makefile: PGXS's .SECONDARY would let a
# missing stamp pass as an intermediate file and rebuild nothing.)
RECS_BUILD_KIND := .build-$(if $(filter 1,$(RECS_SANITIZE)),sanitize,normal)
ifeq ($(wildcard $(RECS_BUILD_KIND)),)
$(shell rm -f .build-sanitize .build-normal; touch $(RECS_BUILD_KIND))
endif
EXTRA_CLEAN += .build-sanitize .build-normal

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

# The install script has one source: the ordered fragments in src/install/.
recs--$(EXTVERSION).sql: $(sort $(wildcard src/install/*.sql))
	cat $^ > $@

$(OBJS): $(RECS_BUILD_KIND)

.PHONY: demo test test-pg17 memcheck
demo:
	bash scripts/demo.sh
test:
	bash scripts/test.sh
# the same suite against PostgreSQL 17, in a Debian 13 chroot (as root)
test-pg17:
	bash scripts/test_pg17.sh
memcheck:
	bash scripts/memcheck.sh
