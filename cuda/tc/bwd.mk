# cuda/tc/bwd.mk — the tensor-core FlashAttention-2 backward (cuda/tc/attn_bwd.cu), included by the root Makefile
# after cuda/cuda.mk (whose variables, pattern rules and cuda_link it uses).
#
#   make test           (through run-tests) also runs bwd_test: the kernel's schedule against the simulator's
#                       backward ledger, on the CPU
#   make bwd-check      (GPU) dQ, dK, dV of every configuration against fp64, counters against the ledger
#   make bench-gpu-bwd  (GPU) bwd_check, then the backward and SDPA's flash, cuDNN and efficient backwards timed in
#                       one Python process; the table to docs/gpu-runs/
#   lesson09 --backward links the same objects.

HELP_LINES += make_bwd-check____(GPU)_the_tensor-core_backward_against_fp64_and_the_simulator's_ledger
HELP_LINES += make_bench-gpu-bwd_(GPU)_bwd-check,_then_the_backward_timed_against_SDPA's_backwards

BWD_TEST := $(BUILD)/tests/bwd_test
BWD_TEST_OBJ := $(BUILD)/cuda_cpu/tc/bwd_test.o $(BUILD)/cuda_cpu/tc/bwd_ledger.o
# The host-only pieces compile with the C compiler alone, so the CPU test runs without nvcc too.
$(BUILD)/cuda_cpu/tc/%.o: cuda/tc/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(INC_ALL) -Icuda/tc -Itests $(shell pkg-config --cflags check 2>/dev/null) -MMD -MP -c $< -o $@
$(BWD_TEST): $(BWD_TEST_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(shell pkg-config --libs check 2>/dev/null) $(LDLIBS) -o $@
.PHONY: bwd-test bwd-check bench-gpu-bwd
bwd-test: $(BWD_TEST)
	$(BWD_TEST)
run-tests: bwd-test
-include $(BWD_TEST_OBJ:.o=.d)

ifneq ($(NVCC),)
BWD_SO_OBJ := $(call twins,cuda/tc/attn_bwd.cu cuda/tc/attn_bwd_wgmma.cu)
BWD_OBJ := $(BWD_SO_OBJ) $(CUDA_B)/tc/bwd_host.o $(CUDA_B)/tc/bwd_ledger.o
BWD_SO := $(CUDA_B)/libflashlab_tc_bwd.so
$(BWD_SO_OBJ): cuda/tc/bwd.def cuda/tc/bwd_kernels.cuh
# The wgmma backward is Hopper's alone (wgmma, TMA: sm_90a), with the forward's wrappers from cuda/hopper.
BWD_WG_NVFLAGS := $(filter-out -arch=sm_90,$(NVCCFLAGS)) -gencode=arch=compute_90a,code=sm_90a -Icuda/hopper
$(CUDA_B)/tc/attn_bwd_wgmma.o: cuda/tc/attn_bwd_wgmma.cu $(CUDA_HDRS)
	@mkdir -p $(dir $@)
	@$(call nvcc_or_reuse,$(NVCC) $(BWD_WG_NVFLAGS) -c $< -o $@)
$(CUDA_B)/tc/attn_bwd_wgmma_count.o: cuda/tc/attn_bwd_wgmma.cu $(CUDA_HDRS)
	@mkdir -p $(dir $@)
	@$(call nvcc_or_reuse,$(NVCC) $(BWD_WG_NVFLAGS) -DFL_COUNT -c $< -o $@)
.PHONY: bwd-ptxas
bwd-ptxas:
	@$(NVCC) $(NVCCFLAGS) -Xptxas -v -c cuda/tc/attn_bwd.cu -o /dev/null 2>&1 | grep -E 'registers|spill' | sort | uniq -c
	@$(NVCC) $(BWD_WG_NVFLAGS) -Xptxas -v -c cuda/tc/attn_bwd_wgmma.cu -o /dev/null 2>&1 \
	  | grep -E 'registers|spill|C75|serializ' | sort | uniq -c
$(CUDA_B)/bwd_check: $(CUDA_B)/tc/bwd_check.o $(BWD_OBJ) $(TC_OBJ) $(LIB)
	$(call cuda_link,$(CUDA_LDLIBS))
# Python loads the forward (for O and L) and the backward from one library.
$(BWD_SO): $(TC_SO_OBJ) $(BWD_SO_OBJ)
	$(NVCC) -shared -o $@ $^
$(call lesson_bin,09): $(BWD_OBJ)
cuda: $(CUDA_B)/bwd_check $(BWD_SO)

bwd-check: $(CUDA_B)/bwd_check
	$(CUDA_B)/bwd_check

BWD_BENCH_ARGS ?=
bench-gpu-bwd: $(CUDA_B)/bwd_check $(BWD_SO)
	@mkdir -p $(RUNS)
	set -o pipefail; $(CUDA_B)/bwd_check 2>&1 | tee $(RUNS)/bwd_check_$(TC_STAMP).log
	python3 cuda/tools/tc_bwd_bench.py --lib $(BWD_SO) --outdir $(RUNS) --cmd "make bench-gpu-bwd" $(BWD_BENCH_ARGS)
else
bwd-check bench-gpu-bwd:
	@echo "✗ no nvcc: $@ needs the CUDA Toolkit and a GPU" >&2; exit 2
endif
