# cuda/hopper/hopper.mk — the Hopper (sm_90a) kernels v13+, for the root Makefile to include (after it has set NVCC,
# CUDA_HOME, CUDA_LIBDIR, BUILD, CFLAGS, LIB, LDFLAGS, LDLIBS).
#
#   make hopper-ptxas   registers, spills, wgmma-serialization and setmaxnreg warnings of every kernel (no GPU needed)
#   make hopper-sass    where ptxas put the waits: is the softmax under P V in the SASS (hopper_sass.py, no GPU needed)
#   make hopper-check   (GPU) probe, checks against fp64, counters against the simulator's ledger
#   make hopper-bench   (GPU) hopper-check, then every version beside SDPA's flash and cuDNN backends (one process)
#
# Kernels are compiled twice, plainly and with -DFL_COUNT into counting twins named ..._count (hopper.h). The paths
# of the mma.sync layer (attn_tc.h, cuda/tc) and of the project's headers (dtype.h; $(INC_ALL)) are HP_INC's.

ifneq ($(NVCC),)
HP_DIR := cuda/hopper
HP_INC := $(INC_ALL) -Icuda/common -Icuda/tc -I$(HP_DIR)
HP_NVFLAGS := -O3 -std=c++17 -gencode=arch=compute_90a,code=sm_90a $(HP_INC) -I$(CUDA_HOME)/include -Xcompiler -fPIC
HP_CU := $(sort $(wildcard $(HP_DIR)/attn_v[1-9][0-9]_*.cu))
HP_DEPS := $(HP_DIR)/hopper_common.cuh $(HP_DIR)/hopper_wgmma.cuh $(HP_DIR)/hopper_sync.cuh $(HP_DIR)/hopper_ws.cuh \
           $(HP_DIR)/hopper.h
HP_KOBJ := $(HP_CU:$(HP_DIR)/%.cu=$(BUILD)/hopper/%.o) $(HP_CU:$(HP_DIR)/%.cu=$(BUILD)/hopper/count/%.o) \
           $(BUILD)/hopper/hopper_probe.o $(BUILD)/hopper/hopper_table.o
HP_CFLAGS := $(CFLAGS) -fPIC $(HP_INC) -I$(CUDA_HOME)/include
HP_LINK := -L$(CUDA_LIBDIR) -lcudart_static -lstdc++ -ldl -lrt -lpthread
HP_SO := $(BUILD)/libflashlab_hopper.so
HP_CHECK := $(BUILD)/hopper_check
HP_STAMP = $(shell date -u +%Y-%m-%d)

$(BUILD)/hopper/%.o: $(HP_DIR)/%.cu $(HP_DEPS)
	@mkdir -p $(dir $@)
	@$(call nvcc_or_reuse,$(NVCC) $(HP_NVFLAGS) -c $< -o $@)

$(BUILD)/hopper/count/%.o: $(HP_DIR)/%.cu $(HP_DEPS)
	@mkdir -p $(dir $@)
	@$(call nvcc_or_reuse,$(NVCC) $(HP_NVFLAGS) -DFL_COUNT -c $< -o $@)

$(BUILD)/hopper/hopper_table.o: $(HP_DIR)/hopper_table.c $(HP_DIR)/hopper.def $(HP_DIR)/hopper_final.def \
                             $(HP_DIR)/hopper.h
	@mkdir -p $(dir $@)
	$(CC) $(HP_CFLAGS) -c $< -o $@

$(BUILD)/hopper/hopper_host.o: $(HP_DIR)/hopper_host.c $(HP_DIR)/hopper_host.h $(HP_DIR)/hopper.h cuda/common/fwd_host.h
	@mkdir -p $(dir $@)
	$(CC) $(HP_CFLAGS) -c $< -o $@

$(BUILD)/hopper/hopper_check.o: $(HP_DIR)/hopper_check.c $(HP_DIR)/hopper.h cuda/common/fwd_host.h
	@mkdir -p $(dir $@)
	$(CC) $(HP_CFLAGS) -c $< -o $@

# The benchmark loads the kernels into Python (ctypes) next to PyTorch: one process, one timer for everything.
$(HP_SO): $(HP_KOBJ)
	$(NVCC) -shared -o $@ $^ -lcudart_static

# The host side (inputs, references, checks, counters, timing) is cuda/common's fwd_host, shared with cuda/tc.
$(HP_CHECK): $(BUILD)/hopper/hopper_check.o $(FWD_OBJ) $(COMMON_OBJ) $(HP_KOBJ) $(LIB)
	$(CC) $(LDFLAGS) $^ $(HP_LINK) $(LDLIBS) -o $@

# lesson10 links the host API and the kernels (hopper_host.h over fwd_host.h); gpu.o also gives it the device's name
# and compute capability.
HP_LESSON := $(BINDIR)/lesson10
HP_LESSON_OBJ := $(BUILD)/lessons/lesson10_hopper.o
$(HP_LESSON_OBJ): CFLAGS += -I$(HP_DIR)
$(HP_LESSON): $(HP_LESSON_OBJ) $(BUILD)/hopper/hopper_host.o $(FWD_OBJ) $(COMMON_OBJ) $(HP_KOBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(HP_LINK) $(LDLIBS) -o $@

.PHONY: hopper hopper-check hopper-bench hopper-ptxas hopper-test-nogpu hopper-sass hopper-sass-check \
        hopper-final-check
hopper: $(HP_SO) $(HP_CHECK) $(HP_LESSON)

# make all (hence make test) compiles every Hopper kernel for sm_90a with its counting twin: the compile check.
all: $(HP_LESSON) $(HP_CHECK)
run-tests: hopper-test-nogpu
hopper-test-nogpu: $(HP_LESSON) $(HP_CHECK) hopper-sass-check hopper-final-check
	@echo "✓ nvcc sm_90a compiled every kernel of cuda/hopper/ with its counting twin:" \
	      "$(notdir $(HP_CU)) hopper_probe.cu; ./lesson10 and hopper_check linked"
	@$(HP_CHECK) --table > $(BUILD)/hopper/final_table.txt || { cat $(BUILD)/hopper/final_table.txt; \
	  echo "✗ hopper_final.def: a case of final without a version, or with blocks not that version's" >&2; exit 1; }
	@echo "✓ final's rule: every d, mask and N has a version with blocks ($$(tail -1 $(BUILD)/hopper/final_table.txt))"
	@if [ -w /dev/full ]; then $(HP_CHECK) --table > /dev/full 2> /dev/null; rc=$$?; [ $$rc = 3 ] || \
	  { echo "✗ hopper_check --table > /dev/full exited $$rc, not 3 (a lost report)" >&2; exit 1; }; fi

# The SASS of the overlap kernels, read without a disassembler (hopper_sass.py): cubins of whole .cu files, the
# decoder first checked on hopper_sass_cal.cu. hopper-sass reports every OVERLAP kernel of HP_SASS_CU;
# hopper-sass-check (part of make test) fails unless every PIN kernel (v21, v22) keeps its softmax under P V.
HP_SASS_DIR := $(BUILD)/hopper/sass
HP_SASS_CU ?= attn_v17_overlap attn_v19_sched attn_v20_lean attn_v21_pin attn_v22_reread
HP_SASS_CAL := $(HP_SASS_DIR)/hopper_sass_cal.cubin
$(HP_SASS_DIR)/%.cubin: $(HP_DIR)/%.cu $(HP_DEPS)
	@mkdir -p $(dir $@)
	@$(call nvcc_or_reuse,$(NVCC) $(HP_NVFLAGS) -cubin $< -o $@)
hopper-sass: $(HP_SASS_CAL) $(HP_SASS_CU:%=$(HP_SASS_DIR)/%.cubin)
	python3 $(HP_DIR)/hopper_sass.py --calibration $(HP_SASS_CAL) $(HP_SASS_CU:%=$(HP_SASS_DIR)/%.cubin)
hopper-sass-check: $(HP_SASS_CAL) $(HP_SASS_DIR)/attn_v21_pin.cubin $(HP_SASS_DIR)/attn_v22_reread.cubin
	@python3 $(HP_DIR)/hopper_sass.py --require-overlap --calibration $^ > $(HP_SASS_DIR)/check.log \
	  || { cat $(HP_SASS_DIR)/check.log; echo "✗ hopper_sass: a PIN kernel (v21, v22) lost its softmax overlap" >&2; \
	       exit 1; }
	@echo "✓ $$(tail -1 $(HP_SASS_DIR)/check.log) (every PIN kernel's softmax, v21 and v22, between its products and" \
	      "WARPGROUP.DEPBAR 0)"

# final's dispatch rule (hopper_final.py, which writes hopper_final.def from a measured table) on a made-up table;
# the committed rule itself is read back through the library by hopper_check --table (no GPU) in hopper-test-nogpu
hopper-final-check:
	@python3 $(HP_DIR)/hopper_final_test.py

hopper-check: $(HP_CHECK)
	$(HP_CHECK)

# HP_BENCH_ARGS, e.g. "--quick" or "--versions v17_overlap,v18_persist"
HP_BENCH_ARGS ?=
hopper-bench: $(HP_CHECK) $(HP_SO)
	@mkdir -p plots/data
	set -o pipefail; $(HP_CHECK) 2>&1 | tee plots/data/hopper_check_$(HP_STAMP).log
	python3 $(HP_DIR)/hopper_bench.py --lib $(HP_SO) --outdir plots/data --cmd "make hopper-bench" $(HP_BENCH_ARGS)

hopper-ptxas:
	@for f in $(HP_CU) $(HP_DIR)/hopper_probe.cu; do echo "== $$f"; \
	  $(NVCC) $(HP_NVFLAGS) -Xptxas -v -c $$f -o /dev/null 2>&1 \
	  | grep -E 'registers|spill|Potential Performance|setmaxnreg|C75' | sort | uniq -c; done

HELP_LINES += make_hopper_________the_Hopper_kernels,_./lesson10,_their_checker_and_the_benchmark's_library_(needs_nvcc)
HELP_LINES += make_hopper-ptxas___registers,_spills,_wgmma_warnings_of_the_Hopper_kernels
HELP_LINES += make_hopper-sass____the_SASS_order_of_products,_waits_and_softmax_in_the_overlap_kernels
HELP_LINES += make_hopper-check___(H100/H200)_check_the_Hopper_kernels:_probe,_fp64,_counters
HELP_LINES += make_hopper-bench___(H100/H200)_time_the_Hopper_kernels_against_PyTorch_SDPA
else
hopper hopper-check hopper-bench hopper-ptxas hopper-sass:
	@echo "✗ no nvcc: $@ needs the CUDA Toolkit$(if $(filter hopper hopper-ptxas hopper-sass,$@),, and an H100 or H200)" >&2; exit 2
endif
