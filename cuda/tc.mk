# cuda/tc.mk — the tensor-core FlashAttention-2 kernels (issue 6), included by the root Makefile.
#
#   make bench-gpu     (GPU machine) tc_check, then every kernel and PyTorch's SDPA backends timed in one process;
#                      the table goes to plots/data/tc_bench_<device>_<date>.{txt,json}, the figure to plots/out/
#   make tc-check      (GPU machine) only the checks: O, L vs fp64 (Tri Dao's criterion), counters vs simulator
#   make tc-ptxas      registers, spills and shared memory of every tensor-core kernel (no GPU needed)
#   ./lesson09         one configuration: check, counters vs simulator, time (built where nvcc is found)
#
# The kernels are compiled twice: plainly, and with -DFL_COUNT into counting twins named ..._count (attn_tc.h).

ifneq ($(NVCC),)
TC_NVFLAGS := -O3 -std=c++17 -arch=sm_90 $(INC_ALL) -Icuda -I$(CUDA_HOME)/include -Xcompiler -fPIC
TC_CU := $(sort $(wildcard cuda/attn_v0[4-9]_*.cu cuda/attn_v[1-9][0-9]_*.cu))
TC_DEPS := cuda/tc_common.cuh cuda/tc_warp.cuh cuda/attn_tc.h cuda/cuda_check.h
TC_KOBJ := $(TC_CU:cuda/%.cu=$(BUILD)/tc/%.o) $(TC_CU:cuda/%.cu=$(BUILD)/tc/count/%.o)
TC_OBJ := $(TC_KOBJ) $(BUILD)/tc/attn_tc.o
TC_HOST := $(BUILD)/tc/tc_host.o
TC_CFLAGS := $(CFLAGS) $(INC_ALL) -fPIC -Icuda -I$(CUDA_HOME)/include
TC_LINK := -L$(CUDA_LIBDIR) -lcudart_static -lstdc++ -ldl -lrt -lpthread
TC_SO := $(BUILD)/libflashlab_tc.so
TC_CHECK := $(BUILD)/tc_check
TC_LESSON := $(BINDIR)/lesson09
TC_PEAK := $(BUILD)/tc_peak
TC_TEACH := $(BUILD)/tc_teach

$(BUILD)/tc/%.o: cuda/%.cu $(TC_DEPS)
	@mkdir -p $(dir $@)
	$(NVCC) $(TC_NVFLAGS) -c $< -o $@

$(BUILD)/tc/count/%.o: cuda/%.cu $(TC_DEPS)
	@mkdir -p $(dir $@)
	$(NVCC) $(TC_NVFLAGS) -DFL_COUNT -c $< -o $@

$(BUILD)/tc/attn_tc.o: cuda/attn_tc.c cuda/attn_tc.def cuda/attn_tc.h
	@mkdir -p $(dir $@)
	$(CC) $(TC_CFLAGS) -c $< -o $@

$(BUILD)/tc/tc_host.o: cuda/tc_host.c cuda/tc_host.h cuda/attn_tc.h
	@mkdir -p $(dir $@)
	$(CC) $(TC_CFLAGS) -c $< -o $@

$(BUILD)/tc/tc_check.o: cuda/tc_check.c cuda/tc_host.h
	@mkdir -p $(dir $@)
	$(CC) $(TC_CFLAGS) -c $< -o $@

$(BUILD)/tc/lesson09.o: lessons/lesson09_tensor_cores.c cuda/tc_host.h
	@mkdir -p $(dir $@)
	$(CC) $(TC_CFLAGS) -c $< -o $@

# The benchmark loads the kernels into Python (ctypes), next to PyTorch: one process, one timer for everything.
$(TC_SO): $(TC_OBJ)
	$(NVCC) -shared -o $@ $^

$(TC_PEAK): cuda/tc_peak.cu $(TC_DEPS)
	$(NVCC) $(TC_NVFLAGS) $< -o $@

# The naive and teaching kernels (cuda/cuda.mk's objects) timed on the same shapes, for the same table.
$(BUILD)/tc/tc_teach.o: cuda/tc_teach.c cuda/cuda_attn.h
	@mkdir -p $(dir $@)
	$(CC) $(TC_CFLAGS) -c $< -o $@
$(TC_TEACH): $(BUILD)/tc/tc_teach.o $(CUDA_HOST_OBJ) $(CUDA_DEV_OBJ) $(LIB)
	$(CXX) $(LDFLAGS) $^ $(TC_LINK) $(LDLIBS) -o $@

$(TC_CHECK): $(BUILD)/tc/tc_check.o $(TC_HOST) $(TC_OBJ) $(LIB)
	$(CC) $(LDFLAGS) $^ $(TC_LINK) $(LDLIBS) -o $@

$(TC_LESSON): $(BUILD)/tc/lesson09.o $(TC_HOST) $(TC_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(TC_LINK) $(LDLIBS) -o $@

ifneq ($(wildcard lessons/lesson09_tensor_cores.c),)
all: $(TC_LESSON)
endif

.PHONY: bench-gpu tc-check tc-ptxas tc-plot
# The figure from the newest table make bench-gpu left in plots/data (gnuplot; no GPU needed).
TC_DAT = $(lastword $(sort $(wildcard plots/data/tc_bench_*.dat)))
tc-plot:
	@test -n "$(TC_DAT)" || { echo "tc-plot: no plots/data/tc_bench_*.dat (run make bench-gpu on a GPU machine)" >&2; exit 2; }
	@bash .ci/deps.sh gnuplot
	@mkdir -p plots/out
	gnuplot -e "data='$(TC_DAT)'; out='plots/out/tc_bench.png'" plots/tc_bench.gp
TC_STAMP = $(shell date -u +%Y-%m-%d)
# e.g. TC_BENCH_ARGS="--versions v04_mma,final" to time a subset (every version is still checked)
TC_BENCH_ARGS ?=
# TC_CHECK_ARGS=--quick checks small shapes (every row) and counters only; TC_TEACH_MAXN caps N for v01/v03
TC_CHECK_ARGS ?=
TC_TEACH_MAXN ?= 16384
tc-check: $(TC_CHECK)
	$(TC_CHECK)

# One make invocation, one GPU: ceilings, every check, the teaching kernels (C, the runner's event timer), then
# every tensor-core version and SDPA's backends in one Python process (ctypes + torch, one event timer).
bench-gpu: $(TC_CHECK) $(TC_SO) $(TC_PEAK) $(TC_TEACH)
	@mkdir -p plots/data plots/out
	set -o pipefail; $(TC_PEAK) 2>&1 | tee plots/data/tc_peak_$(TC_STAMP).txt
	set -o pipefail; $(TC_CHECK) $(TC_CHECK_ARGS) 2>&1 | tee plots/data/tc_check_$(TC_STAMP).log
	$(TC_TEACH) plots/data/tc_teach_$(TC_STAMP).txt $(TC_TEACH_MAXN)
	python3 cuda/tc_bench.py --lib $(TC_SO) --outdir plots/data --cmd "make bench-gpu" \
	    --teach plots/data/tc_teach_$(TC_STAMP).txt --peak plots/data/tc_peak_$(TC_STAMP).txt $(TC_BENCH_ARGS)

tc-ptxas:
	@for f in $(TC_CU); do echo "== $$f"; $(NVCC) $(TC_NVFLAGS) -Xptxas -v -c $$f -o /dev/null 2>&1 \
	  | grep -E 'registers|spill' | sort | uniq -c; done

HELP_LINES += make_bench-gpu__(GPU)_check_and_time_the_tensor-core_kernels_against_PyTorch_SDPA
HELP_LINES += make_tc-ptxas___registers_and_spills_of_the_tensor-core_kernels
HELP_LINES += make_tc-plot____TFLOP/s_vs_N_figure_from_the_newest_bench-gpu_table_->_plots/out/tc_bench.png
endif
