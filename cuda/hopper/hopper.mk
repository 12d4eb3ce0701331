# cuda/hopper/hopper.mk — the Hopper (sm_90a) kernels v13+, for the root Makefile to include (after it has set NVCC,
# CUDA_HOME, CUDA_LIBDIR, BUILD, CFLAGS, LIB, LDFLAGS, LDLIBS).
#
#   make hopper-ptxas   registers, spills, wgmma-serialization and setmaxnreg warnings of every kernel (no GPU needed)
#   make hopper-check   (GPU) probe, checks against fp64, counters against the simulator's ledger
#   make hopper-bench   (GPU) hopper-check, then every version beside SDPA's flash and cuDNN backends (one process)
#
# Kernels are compiled twice, plainly and with -DFL_COUNT into counting twins named ..._count (hopper.h). The paths
# of the mma.sync layer (attn_tc.h) and of dtype.h are HP_INC's: change them there when cuda/ moves.

ifneq ($(NVCC),)
HP_DIR := cuda/hopper
HP_INC ?= -Iinclude -Icuda -I$(HP_DIR)
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
	$(NVCC) $(HP_NVFLAGS) -c $< -o $@

$(BUILD)/hopper/count/%.o: $(HP_DIR)/%.cu $(HP_DEPS)
	@mkdir -p $(dir $@)
	$(NVCC) $(HP_NVFLAGS) -DFL_COUNT -c $< -o $@

$(BUILD)/hopper/hopper_table.o: $(HP_DIR)/hopper_table.c $(HP_DIR)/hopper.def $(HP_DIR)/hopper.h
	@mkdir -p $(dir $@)
	$(CC) $(HP_CFLAGS) -c $< -o $@

$(BUILD)/hopper/hopper_host.o: $(HP_DIR)/hopper_host.c $(HP_DIR)/hopper_host.h $(HP_DIR)/hopper.h
	@mkdir -p $(dir $@)
	$(CC) $(HP_CFLAGS) -c $< -o $@

$(BUILD)/hopper/hopper_check.o: $(HP_DIR)/hopper_check.c $(HP_DIR)/hopper_host.h $(HP_DIR)/hopper.h
	@mkdir -p $(dir $@)
	$(CC) $(HP_CFLAGS) -c $< -o $@

# The benchmark loads the kernels into Python (ctypes) next to PyTorch: one process, one timer for everything.
$(HP_SO): $(HP_KOBJ)
	$(NVCC) -shared -o $@ $^ -lcudart_static

$(HP_CHECK): $(BUILD)/hopper/hopper_check.o $(BUILD)/hopper/hopper_host.o $(HP_KOBJ) $(LIB)
	$(CC) $(LDFLAGS) $^ $(HP_LINK) $(LDLIBS) -o $@

.PHONY: hopper hopper-check hopper-bench hopper-ptxas
hopper: $(HP_SO) $(HP_CHECK)

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

HELP_LINES += make_hopper-ptxas___registers,_spills,_wgmma_warnings_of_the_Hopper_kernels
HELP_LINES += make_hopper-check___(H100/H200)_check_the_Hopper_kernels:_probe,_fp64,_counters
HELP_LINES += make_hopper-bench___(H100/H200)_time_the_Hopper_kernels_against_PyTorch_SDPA
endif
