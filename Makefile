# flashlab — a step-by-step FlashAttention simulator.  `make help` lists the targets.
#
#   make            library + lesson binaries (./lesson01 ... at the root)
#   make demo       build, then run ./lesson03 (the tiling trace)
#   make test       every Check suite (installs Debian's check + pkg-config when run as root)
#   make SAN=1 test the same under AddressSanitizer + UndefinedBehaviorSanitizer (objects in build/san)

.DEFAULT_GOAL := all
SHELL := /bin/bash
MAKEFLAGS += --no-print-directory
# Parallel by default, one job per core (JOBS=1 for a serial build; a -j on the command line wins). A recipe that times
# something runs only after its prerequisites are built, so nothing compiles beside a benchmark; still, time one target
# per make command.
JOBS ?= $(shell nproc 2>/dev/null || echo 1)
ifeq ($(MAKELEVEL),0)
  MAKEFLAGS += -j$(JOBS)
endif

CC ?= gcc
SAN ?= 0
BUILD := build$(if $(filter 1,$(SAN)),/san,/rel)
# Lesson binaries live at the root for learners; a sanitizer build keeps its own copies apart.
BINDIR := $(if $(filter 1,$(SAN)),$(BUILD)/bin,.)

CFLAGS := -std=c11 -Wall -Wextra -Werror -pedantic -g
# ---- layers: each sees only the headers of the layers below it (STYLE.md); the include path enforces it ----------
#   base    util, rng, exit codes                       include/base    sim/base
#   model   the memory model and the algorithms         include/model   sim/model
#   oracle  fp64 references and verification            include/oracle  sim/oracle
#   course  cli, summary, report, trace, tile maps      include/course  sim/course
#   lab     what every lesson does around an algorithm  include/lab     lessons/lab
#   lessons, tests, plots, cuda host code: everything above (+ lessons/ for lessons.h)
INC_base := -Iinclude/base
INC_model := $(INC_base) -Iinclude/model
INC_oracle := $(INC_model) -Iinclude/oracle
INC_course := $(INC_model) -Iinclude/course
INC_lab := $(INC_oracle) -Iinclude/course -Iinclude/lab
INC_ALL := $(INC_lab) -Ilessons
LDLIBS := -lm
ifeq ($(SAN),1)
  CFLAGS += -O1 -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
  LDFLAGS += -fsanitize=address,undefined
else
  CFLAGS += -O2
endif

# ---- probes: say what was found, once per make invocation --------------------------------------------------------
HAVE_OMP := $(shell printf 'int main(void){return 0;}' | $(CC) -fopenmp -x c - -o /dev/null 2>/dev/null && echo 1)
ifeq ($(HAVE_OMP),1)
  CFLAGS += -fopenmp
  LDFLAGS += -fopenmp
endif
# (its real path: a symlinked nvcc cannot find its own nvcc.profile, cicc and headers)
NVCC := $(realpath $(or $(shell command -v nvcc 2>/dev/null),$(wildcard /usr/local/cuda/bin/nvcc)))
# Where the CUDA Toolkit lives. nvcc on PATH may be a symlink or a wrapper (/usr/local/bin/nvcc, say), so the toolkit is
# the first candidate that holds the static runtime: nvcc's own TOP (from its dry run), nvcc's real path, /usr/local/cuda.
ifneq ($(NVCC),)
  CUDA_TOPS := $(shell $(NVCC) --dryrun -x cu -c /dev/null -o /dev/null 2>&1 | sed -n 's/^\#\$$ TOP=//p') \
               $(dir $(NVCC)).. /usr/local/cuda
  CUDA_LIBDIR := $(firstword $(foreach t,$(CUDA_TOPS),$(foreach l,lib64 lib targets/x86_64-linux/lib, \
                   $(patsubst %/libcudart_static.a,%,$(realpath $(t)/$(l)/libcudart_static.a)))))
  CUDA_HOME := $(firstword $(foreach t,$(CUDA_TOPS),$(if $(wildcard $(t)/include/cuda_runtime.h),$(realpath $(t)))))
  ifeq ($(and $(CUDA_LIBDIR),$(CUDA_HOME)),)
    $(info ✗ $(NVCC) found, but no libcudart_static.a and cuda_runtime.h under $(CUDA_TOPS): CUDA not built)
    NVCC :=
  endif
endif
HAVE_CHECK := $(shell pkg-config --exists check 2>/dev/null && echo 1)
HAVE_GPU := $(shell nvidia-smi -L 2>/dev/null | grep -q GPU && echo 1)

ifndef FLASHLAB_PROBED
  export FLASHLAB_PROBED := 1
  $(info $(if $(HAVE_OMP),✓ OpenMP ($(CC) -fopenmp),✗ no OpenMP: lessons run on one thread))
  $(info $(if $(NVCC),✓ nvcc found ($(NVCC)),✗ no nvcc: CUDA lessons 08-10 not built))
  $(info $(if $(HAVE_GPU),✓ CUDA device found,✗ no CUDA device: GPU tests skipped))
endif

# ---- the lesson list comes from lessons/lessons.def ---------------------------------------------------------------
lesson_bin = $(BINDIR)/lesson$(word 1,$(subst :, ,$(1)))
lesson_src = lessons/lesson$(word 1,$(subst :, ,$(1)))_$(word 2,$(subst :, ,$(1))).c
LESSON_ROWS := $(shell sed -n 's/^LESSON.\([0-9][0-9]\), *\([a-z0-9_]*\), *\([a-z]*\),.*/\1:\2:\3/p' lessons/lessons.def)
# A lesson whose source is not written yet is left out (a test checks that every listed lesson exists).
CPU_LESSONS := $(foreach r,$(LESSON_ROWS),$(if $(filter cpu,$(word 3,$(subst :, ,$(r)))),$(if $(wildcard $(call lesson_src,$(r))),$(r))))
CUDA_LESSONS := $(foreach r,$(LESSON_ROWS),$(if $(filter cuda,$(word 3,$(subst :, ,$(r)))),$(r)))
CPU_BINS := $(foreach r,$(CPU_LESSONS),$(call lesson_bin,$(r)))

# ---- the simulator library ----------------------------------------------------------------------------------------
SIM_SRC := $(wildcard sim/*/*.c lessons/lab/*.c)
SIM_OBJ := $(SIM_SRC:%.c=$(BUILD)/%.o)
LIB := $(BUILD)/libflashlab.a

# sim/<layer>/x.c sees INC_<layer>; the lab layer INC_lab; everything else INC_ALL.
$(BUILD)/sim/%.o: sim/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(INC_$(word 2,$(subst /, ,$<))) -MMD -MP -c $< -o $@
$(BUILD)/lessons/lab/%.o: lessons/lab/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(INC_lab) -MMD -MP -c $< -o $@
$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(INC_ALL) -MMD -MP -c $< -o $@

# Lessons compiled without main(), for the test runner to call lessonNN_run directly.
$(BUILD)/nomain/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(INC_ALL) -DFLASHLAB_NO_MAIN -MMD -MP -c $< -o $@

$(LIB): $(SIM_OBJ)
	@rm -f $@
	ar rcs $@ $^

define lesson_rule
$(call lesson_bin,$(1)): $(BUILD)/$(basename $(call lesson_src,$(1))).o $(LIB)
	@mkdir -p $$(dir $$@)
	$(CC) $(LDFLAGS) $$^ $(LDLIBS) -o $$@
endef
$(foreach r,$(CPU_LESSONS),$(eval $(call lesson_rule,$(r))))

.PHONY: all cpu lib demo test check-deps run-tests clean help
# The CPU side first; the GPU fragments add their lessons to all (not to cpu), so make demo never waits for nvcc.
all: cpu
cpu: $(LIB) $(CPU_BINS)
lib: $(LIB)

# demo and test do their own set-up on a fresh Debian machine (.ci/deps.sh: apt-get as root, else the command to run),
# then build in a fresh make so the probes above see what was installed.
demo:
	@bash .ci/deps.sh cc
	@$(MAKE) cpu
	./lesson03

# ---- tests --------------------------------------------------------------------------------------------------------
TEST_SRC := $(wildcard tests/check_*.c) tests/run_tests.c
TEST_OBJ := $(TEST_SRC:%.c=$(BUILD)/%.o)
LESSON_NOMAIN := $(foreach r,$(CPU_LESSONS),$(BUILD)/nomain/$(basename $(call lesson_src,$(r))).o)
TEST_BIN := $(BUILD)/tests/run_tests

$(BUILD)/tests/%.o: CFLAGS += $(shell pkg-config --cflags check 2>/dev/null) -DBIN_DIR='"$(BINDIR)"'
$(TEST_BIN): $(TEST_OBJ) $(LESSON_NOMAIN) $(LIB)
	$(CC) $(LDFLAGS) $^ $(shell pkg-config --libs check 2>/dev/null) $(LDLIBS) -o $@

check-deps:
	@bash .ci/deps.sh cc check

# -Otarget: the suites run side by side, each one's output printed whole when it ends (never interleaved).
test: check-deps
	@$(MAKE) -Otarget run-tests

# One process per suite of tests/suites.def, so make runs them side by side (the slowest first); with CK_RUN_SUITE set,
# the runner once, as Check reads it. Each suite that passes leaves a stamp, and run-tests fails unless every suite of
# suites.def left one in this run: a suite that make never ran is never counted as passed.
TEST_SUITES := $(shell sed -n 's/^SUITE(\([a-z0-9_]*\))$$/\1/p' tests/suites.def)
TEST_SLOW := l2 ring tile_math attention cli backward
TEST_SUITE_RUNS := $(addprefix test-suite-,$(filter $(TEST_SUITES),$(TEST_SLOW)) \
                                             $(filter-out $(TEST_SLOW),$(TEST_SUITES)))
TEST_RUNS := $(if $(CK_RUN_SUITE),test-suite-all,$(TEST_SUITE_RUNS))
TEST_STAMPS := $(BUILD)/tests/passed
.PHONY: test-suite-all $(TEST_SUITE_RUNS) test-stamps-clear
run-tests: all $(TEST_RUNS)
	@$(if $(CK_RUN_SUITE),true,n=0; for s in $(TEST_SUITES); do \
	    [ -f $(TEST_STAMPS)/$$s ] || { echo "✗ suite $$s did not run" >&2; exit 1; }; n=$$((n + 1)); \
	done; echo "✓ all $$n suites of tests/suites.def ran and passed")
test-stamps-clear:
	@rm -rf $(TEST_STAMPS) && mkdir -p $(TEST_STAMPS)
test-suite-all: $(TEST_BIN)
	$(TEST_BIN)
$(TEST_SUITE_RUNS): test-suite-%: $(TEST_BIN) | test-stamps-clear
	CK_RUN_SUITE=$* $(TEST_BIN) && touch $(TEST_STAMPS)/$*

clean:
	rm -rf build $(foreach r,$(LESSON_ROWS),lesson$(word 1,$(subst :, ,$(r))))

# make help: the targets from the fragments' HELP_LINES, the lessons from lessons.def (the list the build uses).
LESSON_HELP := $(shell sed -n 's/^LESSON(\([0-9][0-9]\), *[a-z0-9_]*, *\([a-z]*\), *"\(.*\)")$$/  .\/lesson\1  [\2]  \3/p' lessons/lessons.def | sed 's/ /_/g')
help:
	@echo "flashlab targets:"
	@echo "  make            build the library and every lesson (the CUDA ones where nvcc is found)"
	@echo "  make cpu        build the library and the CPU lessons only"
	@echo "  make demo       build the CPU side and run ./lesson03, the tiling trace"
	@echo "  make test       run every Check suite (CK_RUN_SUITE=mem make test runs one)"
	@echo "  make SAN=1 test the same under ASan + UBSan"
	@echo "  make clean      remove build/ and the lesson binaries"
	@$(foreach line,$(HELP_LINES),echo "  $(subst _, ,$(line))";)
	@echo "lessons (lessons/lessons.def; [cuda] ones need nvcc to build and a GPU to run):"
	@$(foreach line,$(LESSON_HELP),echo "$(subst _, ,$(line))";)

-include $(SIM_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(LESSON_NOMAIN:.o=.d)
-include $(foreach r,$(CPU_LESSONS),$(BUILD)/$(basename $(call lesson_src,$(r))).d)

# ---- areas with their own fragments: the GPU track, plots, homework -------------------------------------------------
# A fragment adds its targets and a line of help each: HELP_LINES += make_plots__regenerate_every_figure
# (underscores become spaces in the help text).
-include cuda/cuda.mk
-include cuda/tc/bwd.mk
-include cuda/decode/decode.mk
-include cuda/hopper/hopper.mk
-include cuda/ring/ring.mk
-include plots/plots.mk
-include plots/bench_cpu.mk
-include lessons/homework/homework.mk
-include sim/course/viewer.mk
