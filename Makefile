# hbk - build, test, demo, bench, install.
#
#   make            build every program into bin/
#   make test       install deps, build, lint, run C unit tests (ASan+UBSan) and bats
#   make lint       yamllint on deploy/ and config/, promtool on the alert rules
#   make demo       install deps, build, run an agent session on the embedded store
#   make bench      benchmarks (scripts/bench)
#   make install PREFIX=/usr/local

PREFIX ?= /usr/local
CC ?= cc
PKGS = libcurl jansson sqlite3 yaml-0.1 libevent libevent_pthreads openssl rdkafka zlib
CFLAGS ?= -O2 -g
CFLAGS += -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -Wno-format-truncation \
	-Ilib/include -MMD -MP
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lreadline -lpthread -lm

LIB_SRC := $(sort $(wildcard lib/*/*.c))
TOOLS := hbk hbk-admin hbkd hbk-sandbox
BUILD := build/release
SAN := build/san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
LIB_SAN_OBJ := $(LIB_SRC:%.c=$(SAN)/%.o)
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(SAN)/tests/%)

# Test helpers written in C, built with the programs so that `make test`
# has them: build/tools/kafka-mock is librdkafka's mock cluster as a process.
TEST_TOOLS := build/tools/kafka-mock

all: $(TOOLS:%=bin/%) $(TEST_TOOLS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(CFLAGS) $(PKG_CFLAGS) -c $< -o $@

$(SAN)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC san  $<"
	@$(CC) $(CFLAGS) -O1 $(SANFLAGS) $(PKG_CFLAGS) -c $< -o $@

$(BUILD)/libhbk.a: $(LIB_OBJ)
	@rm -f $@
	@ar rcs $@ $^

$(SAN)/libhbk.a: $(LIB_SAN_OBJ)
	@rm -f $@
	@ar rcs $@ $^

define tool_rule
$(1)_SRC := $$(sort $$(wildcard cmd/$(1)/*.c))
bin/$(1): $$($(1)_SRC:%.c=$(BUILD)/%.o) $(BUILD)/libhbk.a
	@mkdir -p bin
	@echo "  LD      $$@"
	@$$(CC) $$(CFLAGS) -o $$@ $$^ $(PKG_LIBS)
endef
$(foreach t,$(TOOLS),$(eval $(call tool_rule,$(t))))

build/tools/%: $(BUILD)/tests/tools/%.o
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	@$(CC) $(CFLAGS) -o $@ $^ $(PKG_LIBS)

$(SAN)/tests/%: $(SAN)/tests/unit/%.o $(SAN)/tests/unit/unit.o $(SAN)/tests/unit/canned.o \
		$(SAN)/tests/unit/stores.o $(SAN)/libhbk.a
	@mkdir -p $(dir $@)
	@echo "  LD san  $@"
	@$(CC) $(CFLAGS) $(SANFLAGS) -o $@ $^ $(PKG_LIBS)

$(SAN)/tests/unit/unit.o: tests/unit/unit.c
	@mkdir -p $(dir $@)
	@echo "  CC san  $<"
	@$(CC) $(CFLAGS) -O1 $(SANFLAGS) $(PKG_CFLAGS) -c $< -o $@

deps:
	@sh scripts/install-deps.sh

unit: $(UNIT_BIN)

test: deps
	@$(MAKE) --no-print-directory all unit lint
	@sh scripts/run-tests

# The manifests and the Prometheus rules of deploy/monitoring (their unit
# tests and a live Prometheus run in tests/bats/monitoring.bats).
lint:
	@echo "  LINT    deploy config"
	@yamllint -s deploy config tests/monitoring
	@mkdir -p build
	@node tests/tools/check-monitoring.mjs rules build/prometheus-rules.yaml
	@promtool check rules build/prometheus-rules.yaml >/dev/null

demo: deps
	@$(MAKE) --no-print-directory all
	@sh scripts/demo

bench: deps
	@$(MAKE) --no-print-directory all
	@bash scripts/bench
	@bash scripts/bench-http
	@bash scripts/bench-sagas
	@bash scripts/bench-cluster

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
		$(DESTDIR)$(PREFIX)/share/man/man5 $(DESTDIR)$(PREFIX)/share/man/man8
	install -m 755 $(TOOLS:%=bin/%) $(DESTDIR)$(PREFIX)/bin/
	for m in man/*.[1-8]; do \
		s=$${m##*.}; install -m 644 $$m $(DESTDIR)$(PREFIX)/share/man/man$$s/; \
	done

clean:
	rm -rf build bin

.PHONY: all deps unit test lint demo bench install clean
.SECONDARY:

-include $(shell find build -name '*.d' 2>/dev/null)
