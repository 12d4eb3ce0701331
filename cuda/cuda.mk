# cuda/cuda.mk — the GPU track (lessons 08-09), included by the root Makefile (BUILD, LIB, CFLAGS, LDFLAGS, LDLIBS,
# BINDIR, NVCC, CUDA_HOME, CUDA_LIBDIR, INC_ALL, CUDA_LESSONS come from there). Layout and versions: cuda/README.md.
#
#   make cuda        every kernel, tool and test binary (no GPU needed): ./lesson08, ./lesson09 and, in
#                    build/<rel|san>/cuda/, check_cuda, check_cuda_emu, cuda_bench, tc_check, tc_peak, tc_teach,
#                    libflashlab_tc.so
#   make test        (through run-tests) compiles every .cu here for sm_90, runs the host suite, the teaching kernels
#                    on the CPU emulator and ./lesson08; the GPU suites say SKIPPED without a GPU
#   make test-cuda   (GPU) the CUDA suites, the counting-free SASS check, compute-sanitizer on lesson08
#   make tc-check    (GPU) every tensor-core version: O and L vs fp64 (Tri Dao's criterion), counters vs simulator
#   make bench-gpu   (GPU) tc_check and the Hopper gate, then every version (v04-v12 and the Hopper v13+) and
#                    PyTorch's SDPA timed in one process; the run's record goes to docs/gpu-runs/, the figure's data
#                    to plots/data/, the figure to plots/out/
#   make cuda-bench  (GPU) time and device memory of v01-v03 over N -> plots/data/
#   make ncu         (GPU) Nsight Compute DRAM and L2 bytes per teaching kernel -> plots/data/
#   make tc-ptxas    registers, spills and shared memory of every tensor-core kernel (no GPU needed)
#   make tc-plot     the TFLOP/s figure from the newest bench-gpu table (gnuplot; no GPU needed)
#
# Every kernel file is compiled twice: plainly (x.o) and with -DFL_COUNT into its counting twin (x_count.o).

CUDA_B := $(BUILD)/cuda
RUNS := docs/gpu-runs
CUDA_INC := -Icuda/common -Icuda/teach -Icuda/tc

HELP_LINES += make_cuda________CUDA_kernels,_./lesson08,_./lesson09_and_the_CUDA_tests_(needs_nvcc)
HELP_LINES += make_test-cuda___(GPU)_CUDA_suites,_SASS_check,_compute-sanitizer_memcheck_racecheck_synccheck
HELP_LINES += make_tc-check____(GPU)_every_tensor-core_version_against_fp64_and_the_simulator's_ledger
HELP_LINES += make_bench-gpu___(GPU)_check,_then_time_the_tensor-core_kernels_against_PyTorch_SDPA
HELP_LINES += make_cuda-bench__(GPU)_v01/v02/v03_time_and_device_memory_over_N_->_plots/data
HELP_LINES += make_ncu_________(GPU)_Nsight_Compute_DRAM/L2_bytes_per_kernel_->_plots/data
HELP_LINES += make_tc-ptxas____registers_and_spills_of_the_tensor-core_kernels
HELP_LINES += make_tc-plot_____TFLOP/s_vs_N_figure_from_the_newest_bench-gpu_table_->_plots/out/

.PHONY: cuda cuda-test-nogpu test-cuda tc-check bench-gpu cuda-bench ncu tc-ptxas tc-plot

# The figure from the newest table make bench-gpu left in plots/data (gnuplot only): newest by the date in its name.
TC_DAT = $(shell ls plots/data/tc_bench_*.dat 2>/dev/null | sed -E 's/^(.*_([0-9]{4}-[0-9]{2}-[0-9]{2})[^/]*)$$/\2 \1/' \
                 | sort | tail -n 1 | cut -d' ' -f2)
tc-plot:
	@test -n "$(TC_DAT)" || { echo "tc-plot: no plots/data/tc_bench_*.dat (run make bench-gpu on a GPU machine)" >&2; exit 2; }
	@bash .ci/deps.sh gnuplot
	@mkdir -p plots/out
	gnuplot -e "data='$(TC_DAT)'; out='plots/out/tc_bench.png'" plots/tc_bench.gp

ifneq ($(NVCC),)
NVCCFLAGS := -O3 -arch=sm_90 -std=c++17 -lineinfo $(INC_ALL) $(CUDA_INC) -I$(CUDA_HOME)/include \
             -Xcompiler -fPIC,-Wall,-Wextra
# $(call nvcc_or_reuse,COMMAND): under SAN=1 an nvcc object is the plain build's copy when that one is newer than
# every prerequisite (nvcc's flags carry no sanitizer: compiling again gives the same object, and CI builds both;
# it saves minutes of nvcc), else COMMAND. Without SAN=1, COMMAND.
ifeq ($(SAN),1)
nvcc_or_reuse = r=$(patsubst $(BUILD)/%,build/rel/%,$@); \
    if [ -f "$$r" ] && [ -z "$$(find $^ -newer "$$r" 2>/dev/null)" ]; then echo "cp $$r $@"; cp "$$r" $@; \
    else echo '$(1)'; $(1); fi
else
nvcc_or_reuse = echo '$(1)'; $(1)
endif
CUDA_CFLAGS := $(INC_ALL) $(CUDA_INC) -I$(CUDA_HOME)/include -fPIC
# The CUDA runtime linked statically: the binaries run wherever the driver is new enough.
CUDA_LDLIBS := -L$(CUDA_LIBDIR) -lcudart_static -ldl -lrt -lpthread
# The emulator compiles the teaching kernels as C++ with the project's warnings (and sanitizers under SAN=1).
EMU_CXXFLAGS := $(filter-out -std=c11 -pedantic,$(CFLAGS)) $(INC_ALL) $(CUDA_INC) -std=c++17 -Wno-unknown-pragmas \
                -DFLASHLAB_EMU -I$(CUDA_HOME)/include
# Check's flags from pkg-config, or the plain names where a GPU machine has the library but no pkg-config.
CUDA_CHECK_CFLAGS := $(shell pkg-config --cflags check 2>/dev/null)
CUDA_CHECK_LIBS := $(or $(shell pkg-config --libs check 2>/dev/null),-lcheck -lsubunit -lrt -lm -lpthread)

# ---- the objects, by role ----------------------------------------------------------------------------------------
TEACH_CU := $(sort $(wildcard cuda/teach/attn_v*.cu))
TC_CU := $(sort $(wildcard cuda/tc/attn_v*.cu))
twins = $(foreach f,$(1),$(f:cuda/%.cu=$(CUDA_B)/%.o) $(f:cuda/%.cu=$(CUDA_B)/%_count.o))
COMMON_OBJ := $(CUDA_B)/common/gpu.o $(CUDA_B)/common/ref_rows.o
# the teaching kernels and their runner (cuda_attn.h)
TEACH_OBJ := $(call twins,$(TEACH_CU)) $(CUDA_B)/teach/cuda_attn.o $(CUDA_B)/teach/cuda_attn_host.o \
             $(CUDA_B)/teach/cuda_run.o $(COMMON_OBJ)
# the same kernels on the CPU emulator
EMU_OBJ := $(call twins,$(TEACH_CU:cuda/%=cuda/emu/%)) $(CUDA_B)/emu/teach/emu/emu_session.o \
           $(CUDA_B)/teach/cuda_attn_host.o $(CUDA_B)/teach/cuda_run.o $(CUDA_B)/common/ref_rows.o
# the tensor-core kernels and their table (attn_tc.h): all the shared library holds
TC_SO_OBJ := $(call twins,$(TC_CU)) $(CUDA_B)/tc/attn_tc.o
# ... and their host side (tc_host.h over fwd_host.h, which the Hopper kernels share)
FWD_OBJ := $(CUDA_B)/common/fwd_host.o
TC_OBJ := $(TC_SO_OBJ) $(FWD_OBJ) $(COMMON_OBJ)
TC_SO := $(CUDA_B)/libflashlab_tc.so
CUDA_TOOLS := $(addprefix $(CUDA_B)/,check_cuda check_cuda_emu cuda_bench tc_check tc_peak tc_teach)
CUDA_HDRS := $(wildcard cuda/*/*.h cuda/*/*.cuh cuda/teach/emu/*.h include/*/*.h)

# ---- compiling -----------------------------------------------------------------------------------------------------
$(CUDA_B)/%_count.o: cuda/%.cu $(CUDA_HDRS)
	@mkdir -p $(dir $@)
	@$(call nvcc_or_reuse,$(NVCC) $(NVCCFLAGS) -DFL_COUNT -c $< -o $@)
$(CUDA_B)/%.o: cuda/%.cu $(CUDA_HDRS)
	@mkdir -p $(dir $@)
	@$(call nvcc_or_reuse,$(NVCC) $(NVCCFLAGS) -c $< -o $@)
$(CUDA_B)/emu/%_count.o: cuda/%.cu $(CUDA_HDRS)
	@mkdir -p $(dir $@)
	$(CXX) $(EMU_CXXFLAGS) -DFL_COUNT -x c++ -c $< -o $@
$(CUDA_B)/emu/%.o: cuda/%.cu $(CUDA_HDRS)
	@mkdir -p $(dir $@)
	$(CXX) $(EMU_CXXFLAGS) -x c++ -c $< -o $@
$(CUDA_B)/emu/teach/emu/%.o: cuda/teach/emu/%.cc $(CUDA_HDRS)
	@mkdir -p $(dir $@)
	$(CXX) $(EMU_CXXFLAGS) -c $< -o $@
# C files of cuda/ (host code), and the two CUDA lessons: the CUDA headers, nothing more, for them alone.
$(CUDA_B)/%.o: cuda/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(CUDA_CFLAGS) $(CUDA_CHECK_CFLAGS) -MMD -MP -c $< -o $@
$(CUDA_B)/tests/check_cuda_emu.o: cuda/tests/check_cuda.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(CUDA_CFLAGS) $(CUDA_CHECK_CFLAGS) -DCHECK_EMU -MMD -MP -c $< -o $@
CUDA_LESSON_OBJ := $(foreach r,$(CUDA_LESSONS),$(BUILD)/$(basename $(call lesson_src,$(r))).o)
$(CUDA_LESSON_OBJ): CFLAGS += $(CUDA_INC) -I$(CUDA_HOME)/include

# ---- linking: C and C++ objects, the simulator library last --------------------------------------------------------
cuda_link = $(CXX) $(LDFLAGS) $(filter-out $(LIB),$^) $(LIB) $(1) $(LDLIBS) -o $@
$(CUDA_B)/check_cuda: $(CUDA_B)/tests/check_cuda.o $(TEACH_OBJ) $(LIB)
	$(call cuda_link,$(CUDA_CHECK_LIBS) $(CUDA_LDLIBS))
$(CUDA_B)/check_cuda_emu: $(CUDA_B)/tests/check_cuda_emu.o $(EMU_OBJ) $(LIB)
	$(call cuda_link,$(CUDA_CHECK_LIBS) -lpthread)
$(CUDA_B)/cuda_bench: $(CUDA_B)/tools/cuda_bench.o $(TEACH_OBJ) $(LIB)
	$(call cuda_link,$(CUDA_LDLIBS))
$(CUDA_B)/tc_teach: $(CUDA_B)/tools/tc_teach.o $(TEACH_OBJ) $(LIB)
	$(call cuda_link,$(CUDA_LDLIBS))
$(CUDA_B)/tc_check: $(CUDA_B)/tests/tc_check.o $(TC_OBJ) $(LIB)
	$(call cuda_link,$(CUDA_LDLIBS))
$(CUDA_B)/tc_peak: $(CUDA_B)/tools/tc_peak.o $(CUDA_B)/common/gpu.o $(LIB)
	$(call cuda_link,$(CUDA_LDLIBS))
# The benchmark loads the kernels into Python (ctypes), next to PyTorch: one process, one timer for everything.
$(TC_SO): $(TC_SO_OBJ)
	$(NVCC) -shared -o $@ $^

# A CUDA lesson links the runner it is built on: lesson08 the teaching kernels, lesson09 the tensor-core ones.
# (Lessons of other fragments, cuda/hopper, cuda/decode, bring their own rules.)
CUDA_OBJ_08 := $(TEACH_OBJ)
CUDA_OBJ_09 := $(TC_OBJ)
cuda_lesson_num = $(word 1,$(subst :, ,$(1)))
CUDA_LESSON_ROWS := $(foreach r,$(CUDA_LESSONS),\
                      $(if $(and $(CUDA_OBJ_$(call cuda_lesson_num,$(r))),$(wildcard $(call lesson_src,$(r)))),$(r)))
CUDA_LESSON_BINS := $(foreach r,$(CUDA_LESSON_ROWS),$(call lesson_bin,$(r)))
define cuda_lesson_rule
$(call lesson_bin,$(1)): $(BUILD)/$(basename $(call lesson_src,$(1))).o $(CUDA_OBJ_$(call cuda_lesson_num,$(1))) $(LIB)
	@mkdir -p $$(dir $$@)
	$$(call cuda_link,$(CUDA_LDLIBS))
endef
$(foreach r,$(CUDA_LESSON_ROWS),$(eval $(call cuda_lesson_rule,$(r))))

all: $(CUDA_LESSON_BINS)
cuda: $(CUDA_LESSON_BINS) $(CUDA_TOOLS) $(TC_SO)

# ---- make test: compile everything, run what needs no GPU (the GPU suites say SKIPPED themselves) -----------------
run-tests: cuda-test-nogpu
cuda-test-nogpu: cuda
	@echo "✓ nvcc -arch=sm_90 compiled every .cu of cuda/, each kernel file with its counting twin:" \
	      "$(notdir $(TEACH_CU) $(TC_CU)) tc_peak.cu"
	$(CUDA_B)/check_cuda
ifeq ($(SAN),1)
	@echo "check_cuda_emu: SKIPPED under SAN=1: AddressSanitizer does not follow the emulator's coroutine stacks;" \
	      "plain make test runs it"
else
	$(CUDA_B)/check_cuda_emu
endif
	$(BINDIR)/lesson08 --quiet -N 300 --heads 2
	$(BINDIR)/lesson08 --quiet --algo flash2-bwd -N 300 --heads 2 --causal

# ---- on a GPU ------------------------------------------------------------------------------------------------------
test-cuda: cuda
	@bash cuda/tests/test_cuda.sh $(CUDA_B) $(BINDIR)
ncu: cuda
	@bash cuda/tools/ncu.sh $(CUDA_B)
cuda-bench: cuda
	@bash cuda/tools/bench.sh $(CUDA_B)
tc-check: $(CUDA_B)/tc_check
	$(CUDA_B)/tc_check

TC_STAMP = $(shell date -u +%Y-%m-%d)
# e.g. TC_BENCH_ARGS="--versions v04_mma,final --hp-versions v21_pin,final" to time a subset (every version is
# still checked; a Hopper version is timed only if hopper_gate.sh passed it: tc_bench --hp-passed)
TC_BENCH_ARGS ?=
# TC_CHECK_ARGS=--quick checks small shapes (every row) and counters only; TC_TEACH_MAXN caps N for v01/v03
TC_CHECK_ARGS ?=
TC_TEACH_MAXN ?= 16384
# The Hopper versions (cuda/hopper, sm_90a) in the same process, those that pass hopper_gate.sh's checks
# (hopper_check --quick; a version never run before in a process of its own); the head dimensions and N timed.
HP_GPU_SO := $(BUILD)/libflashlab_hopper.so
BENCH_DIMS ?= 64,128,256
BENCH_NS ?= 512,1024,2048,4096,8192,16384
# One make invocation, one GPU: ceilings, every check, the teaching kernels (C, gpu_time_ms), then every
# tensor-core version, the Hopper versions and SDPA's backends in one Python process (ctypes + torch, one timer);
# the figure (gnuplot, where installed) to plots/out/ with the table's device and date.
bench-gpu: $(CUDA_B)/tc_check $(TC_SO) $(CUDA_B)/tc_peak $(CUDA_B)/tc_teach $(BUILD)/hopper_check $(HP_GPU_SO)
	@mkdir -p $(RUNS) plots/data plots/out
	set -o pipefail; $(CUDA_B)/tc_peak 2>&1 | tee $(RUNS)/tc_peak_$(TC_STAMP).txt
	set -o pipefail; $(CUDA_B)/tc_check $(TC_CHECK_ARGS) 2>&1 | tee $(RUNS)/tc_check_$(TC_STAMP).log
	$(CUDA_B)/tc_teach $(RUNS)/tc_teach_$(TC_STAMP).txt $(TC_TEACH_MAXN)
	hp=$$(bash cuda/hopper/hopper_gate.sh $(BUILD)/hopper_check $(RUNS)/hopper_check_$(TC_STAMP).log) && \
	python3 cuda/tools/tc_bench.py --lib $(TC_SO) --outdir $(RUNS) --datdir plots/data --cmd "make bench-gpu" \
	    --teach $(RUNS)/tc_teach_$(TC_STAMP).txt --peak $(RUNS)/tc_peak_$(TC_STAMP).txt --hplib $(HP_GPU_SO) \
	    --hp-passed "$$hp" --dims $(BENCH_DIMS) --ns $(BENCH_NS) $(TC_BENCH_ARGS)
	-dat=$$(ls -t plots/data/tc_bench_*_$(TC_STAMP).dat | head -1); command -v gnuplot > /dev/null && \
	    gnuplot -e "data='$$dat'; out='plots/out/$$(basename $$dat .dat).png'" plots/tc_bench.gp

tc-ptxas:
	@for f in $(TC_CU); do echo "== $$f"; $(NVCC) $(NVCCFLAGS) -Xptxas -v -c $$f -o /dev/null 2>&1 \
	  | grep -E 'registers|spill' | sort | uniq -c; done

-include $(shell find $(CUDA_B) -name '*.d' 2>/dev/null) $(CUDA_LESSON_OBJ:.o=.d)
else
cuda cuda-test-nogpu:
	@echo "✗ no nvcc: the CUDA kernels were not compiled; CUDA tests SKIPPED (install the CUDA Toolkit)"
run-tests: cuda-test-nogpu
test-cuda tc-check bench-gpu cuda-bench ncu tc-ptxas:
	@echo "✗ no nvcc: $@ needs the CUDA Toolkit$(if $(filter tc-ptxas,$@),, and a GPU)" >&2; exit 2
endif

# How the GPU benchmarks write their records (no GPU, no torch): whole or not at all, and a cut run says so; and when
# binaries carried from the CPU machine (cuda/tools/prebuilt.sh) may stand in for a build on the GPU machine
.PHONY: gpu-record-check
run-tests: gpu-record-check
gpu-record-check:
	@python3 cuda/tools/record_test.py
	@bash cuda/tools/prebuilt_test.sh
