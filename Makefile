# Makefile — build, test and reproduce claimbench.
#
#   make test        install what is missing, build, run the TAP suite (prove)
#   make reproduce   install, build, check agreement, time, verify, write reports/
#   make asan        the test suite under AddressSanitizer + UBSan
#   make regress     the quick suite against data/baselines/<machine class>/ (ci/regress.sh)
#   make baseline    re-measure that baseline and its noise threshold
#   make             just build ./build/claimbench
#
# Dependencies come from Debian (ci/install-deps.sh, idempotent). Flags come
# from pkg-config where a .pc exists, so a missing library fails loudly
# instead of silently linking the slow netlib BLAS the image also has.

BUILD    ?= build
SAN      ?=
CC       := gcc
CXX      := g++
PKGS     := openblas yaml-0.1 sqlite3 libcmark fftw3f
CPPFLAGS := -D_POSIX_C_SOURCE=200809L -Iimpls -Iharness $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# -std=c11 (ISO mode) keeps gcc from contracting a*b+c into FMA, so the ref
# backend gives the same bits wherever it is built.
CFLAGS   := -std=c11 -O2 -g -march=native -fopenmp -Wall -Wextra $(SAN)
CXXFLAGS := -std=c++17 -O2 -g -Wall -Wextra $(SAN)
LDLIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -ldnnl -lbenchmark -lpthread -lm
LDFLAGS  := -fopenmp $(SAN)

MAIN_SRC  := harness/main.c
# REGISTRY: the kernel registry to link (a developer adding kernels may point
# it at a private copy while others are still writing theirs).
REGISTRY  ?= impls/registry.c
C_SRCS    := $(filter-out $(MAIN_SRC) impls/registry.c,$(wildcard harness/*.c impls/*.c impls/*/*.c)) $(REGISTRY)
CXX_SRCS  := $(wildcard harness/*.cc)
ifeq ($(REGISTRY),impls/registry.c)
LIB_OBJS  := $(C_SRCS:%.c=$(BUILD)/%.o) $(CXX_SRCS:%.cc=$(BUILD)/%.o)
else
LIB_OBJS  := $(patsubst %.c,$(BUILD)/%.o,$(filter-out $(REGISTRY),$(C_SRCS))) $(BUILD)/registry-override.o \
             $(CXX_SRCS:%.cc=$(BUILD)/%.o)
endif
TEST_SRCS := $(wildcard tests/t_*.c)
TEST_BINS := $(TEST_SRCS:tests/%.c=$(BUILD)/tests/%.t)
BIN       := $(BUILD)/claimbench

.PHONY: all deps test asan reproduce clean build regress baseline inject
# Keep the test objects: they are intermediate files to make, and deleting
# them forces a relink of every test on the next build.
.SECONDARY:
all: $(BIN)

deps:
	@sh ci/install-deps.sh

# The optimized backends and their shared vector helpers are built for speed
# (-O3 vectorizes the inline exp of impls/common/vexp.h); nothing uses
# -ffast-math, which would break -inf masking and NaN semantics.
$(BUILD)/impls/blas/%.o $(BUILD)/impls/dnnl/%.o $(BUILD)/impls/common/%.o: CFLAGS += -O3

$(BUILD)/.pkgcheck:
	@mkdir -p $(BUILD)
	@pkg-config --exists --print-errors $(PKGS) || { echo "missing libraries: run 'make deps'" >&2; exit 1; }
	@test -f /usr/include/oneapi/dnnl/dnnl.h || { echo "oneDNN headers missing (libdnnl-dev): run 'make deps'" >&2; exit 1; }
	@touch $@

$(BUILD)/%.o: %.c $(BUILD)/.pkgcheck
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

# A registry outside the tree (REGISTRY=/tmp/x/registry.c) builds here.
$(BUILD)/registry-override.o: $(REGISTRY) $(BUILD)/.pkgcheck
	$(CC) $(CPPFLAGS) -I$(CURDIR)/impls $(CFLAGS) -c $< -o $@

$(BUILD)/%.o: %.cc $(BUILD)/.pkgcheck
	@mkdir -p $(dir $@)
	$(CXX) $(CPPFLAGS) $(CXXFLAGS) -MMD -MP -c $< -o $@

$(BIN): $(BUILD)/$(MAIN_SRC:.c=.o) $(LIB_OBJS)
	$(CXX) $(LDFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/tests/%.t: $(BUILD)/tests/%.o $(LIB_OBJS)
	$(CXX) $(LDFLAGS) $^ -o $@ $(LDLIBS)

# Injected regressions for tests/t_compare.t: the same objects, with
# impls/blas/linear_attention.c rebuilt under a compile-time switch (a busy
# wait of INJECT_DELAY_US per call, or every output 0.1% off), linked into
# $(BUILD)/inject-slow/claimbench and $(BUILD)/inject-perturb/claimbench.
INJECT_DELAY_US ?= 5000
INJECT_SRC  := impls/blas/linear_attention.c
INJECT_BINS := $(BUILD)/inject-slow/claimbench $(BUILD)/inject-perturb/claimbench
$(BUILD)/inject-slow/linear_attention.o: INJECT_DEF := -DCB_INJECT_DELAY_US=$(INJECT_DELAY_US)
$(BUILD)/inject-perturb/linear_attention.o: INJECT_DEF := -DCB_INJECT_PERTURB
$(BUILD)/inject-%/linear_attention.o: $(INJECT_SRC) Makefile $(BUILD)/.pkgcheck
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -O3 $(INJECT_DEF) -MMD -MP -c $< -o $@
$(BUILD)/inject-%/claimbench: $(BUILD)/$(MAIN_SRC:.c=.o) \
		$(filter-out $(BUILD)/$(INJECT_SRC:.c=.o),$(LIB_OBJS)) $(BUILD)/inject-%/linear_attention.o
	$(CXX) $(LDFLAGS) $^ -o $@ $(LDLIBS)
inject: $(INJECT_BINS)

build: $(BIN) $(TEST_BINS) $(INJECT_BINS)

# prove runs the compiled tests (build/tests/*.t) and the script tests
# (tests/*.t); every test finds the binary through CLAIMBENCH.
test: deps
	@$(MAKE) --no-print-directory build
	CLAIMBENCH=$(abspath $(BIN)) BUILD_DIR=$(abspath $(BUILD)) prove $(BUILD)/tests/ $(wildcard tests/*.t)

asan: deps
	@$(MAKE) --no-print-directory BUILD=build-asan SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer" build
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 LSAN_OPTIONS=suppressions=$(abspath tests/lsan.supp):print_suppressions=0 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 CLAIMBENCH_SANITIZED=1 \
	CLAIMBENCH=$(abspath build-asan/claimbench) BUILD_DIR=$(abspath build-asan) prove build-asan/tests/ $(wildcard tests/*.t)

reproduce: deps
	@$(MAKE) --no-print-directory $(BIN)
	$(BIN) check
	$(BIN) bench
	$(BIN) verify
	$(BIN) report
	$(BIN) catalog

# The regression gate: the quick suite (tasks/regress) against the baseline
# committed for this machine class; `make baseline` re-measures it (README,
# "Regression tracking").
regress: deps
	@$(MAKE) --no-print-directory $(BIN)
	CLAIMBENCH=$(abspath $(BIN)) sh ci/regress.sh

baseline: deps
	@$(MAKE) --no-print-directory $(BIN)
	CLAIMBENCH=$(abspath $(BIN)) sh ci/regress.sh baseline

clean:
	rm -rf build build-asan

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
