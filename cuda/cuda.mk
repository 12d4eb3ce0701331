# cuda/cuda.mk — the GPU track (issue 5): teaching kernels v01-v03 and their counting twins, the CPU emulator,
# the CUDA lessons and the tools. Included by the root Makefile (BUILD, LIB, CFLAGS, LDFLAGS, LDLIBS, BINDIR, NVCC,
# HAVE_GPU come from there).
#
#   make cuda        the kernels, the CUDA lessons (./lesson08), build/<rel|san>/cuda/{check_cuda,check_cuda_emu,cuda_bench}
#   make test        (through run-tests) compiles every cuda/*.cu with nvcc for sm_90, runs the host suite, the
#                    kernels on the CPU emulator and ./lesson08; the GPU suites are reported SKIPPED without a GPU
#   make test-cuda   on a GPU: every suite, the counting-free SASS check, compute-sanitizer memcheck and racecheck
#   make ncu         on a GPU: Nsight Compute DRAM and L2 bytes per kernel, N = 1k..16k -> plots/data, plots/out
#   make cuda-bench  on a GPU: time and device memory of v01/v02/v03 over N -> plots/data

CUDA_B := $(BUILD)/cuda
CUDA_KERNELS := attn_v01_naive attn_v02_flash1 attn_v03_flash2
# The CUDA lessons (kind cuda in lessons.def) built on the teaching kernels' runner, cuda_attn.h; the tensor-core
# lesson links its own kernels and has its rule in cuda/tc.mk.
CUDA_LESSON_ROWS := $(foreach r,$(CUDA_LESSONS),$(if $(shell grep -ls '"cuda_attn.h"' $(call lesson_src,$(r)) 2>/dev/null),$(r)))
CUDA_LESSON_BINS := $(foreach r,$(CUDA_LESSON_ROWS),$(call lesson_bin,$(r)))

HELP_LINES += make_cuda________CUDA_kernels_v01-v03,_./lesson08_and_the_CUDA_tests_(needs_nvcc)
HELP_LINES += make_test-cuda___on_a_GPU:_CUDA_suites,_SASS_check,_compute-sanitizer_memcheck_and_racecheck
HELP_LINES += make_ncu_________on_a_GPU:_Nsight_Compute_DRAM/L2_bytes_per_kernel_->_plots/data,_plots/out
HELP_LINES += make_cuda-bench__on_a_GPU:_v01/v02/v03_time_and_device_memory_over_N_->_plots/data

.PHONY: cuda cuda-test-nogpu test-cuda ncu cuda-bench

ifneq ($(NVCC),)
NVCCFLAGS := -O3 -arch=sm_90 -std=c++17 -lineinfo $(INC_ALL) -Icuda -I$(CUDA_HOME)/include -Xcompiler -Wall,-Wextra
# The CUDA runtime linked statically: the binaries run wherever the driver is new enough.
CUDA_LDLIBS := -L$(CUDA_LIBDIR) -lcudart_static -ldl -lrt -lpthread
# The emulator compiles the kernels as C++ with the project's warnings (and sanitizers under SAN=1).
EMU_CXXFLAGS := $(filter-out -std=c11 -pedantic,$(CFLAGS)) $(INC_ALL) -std=c++17 -Wno-unknown-pragmas -DFLASHLAB_EMU -Icuda \
                -I$(CUDA_HOME)/include

CUDA_DEV_OBJ := $(CUDA_KERNELS:%=$(CUDA_B)/%.o) $(CUDA_KERNELS:%=$(CUDA_B)/%_count.o) $(CUDA_B)/cuda_attn.o
CUDA_HOST_OBJ := $(CUDA_B)/cuda_attn_host.o
CUDA_EMU_OBJ := $(CUDA_KERNELS:%=$(CUDA_B)/emu/%.o) $(CUDA_KERNELS:%=$(CUDA_B)/emu/%_count.o) \
                $(CUDA_B)/emu/emu_session.o
CUDA_HDRS := $(wildcard cuda/*.h cuda/*.cuh cuda/emu/*.h include/*/*.h)
# Check's flags from pkg-config, or the plain names where a GPU machine has the library but no pkg-config.
CUDA_CHECK_CFLAGS := $(shell pkg-config --cflags check 2>/dev/null)
CUDA_CHECK_LIBS := $(or $(shell pkg-config --libs check 2>/dev/null),-lcheck -lsubunit -lrt -lm -lpthread)
# Every other .cu in cuda/ (the tensor-core kernels of cuda/tc.mk) is compiled once here too, as a check.
CUDA_OTHER_CU := $(filter-out $(CUDA_KERNELS:%=cuda/%.cu) cuda/cuda_attn.cu,$(wildcard cuda/*.cu))
CUDA_CCHECK_OBJ := $(CUDA_OTHER_CU:cuda/%.cu=$(CUDA_B)/ccheck/%.o)

$(CUDA_B)/%_count.o: cuda/%.cu $(CUDA_HDRS)
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) -DFL_COUNT -c $< -o $@
$(CUDA_B)/%.o: cuda/%.cu $(CUDA_HDRS)
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) -c $< -o $@
$(CUDA_B)/ccheck/%.o: cuda/%.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) -c $< -o $@
$(CUDA_B)/emu/%_count.o: cuda/%.cu $(CUDA_HDRS)
	@mkdir -p $(dir $@)
	$(CXX) $(EMU_CXXFLAGS) -DFL_COUNT -x c++ -c $< -o $@
$(CUDA_B)/emu/%.o: cuda/%.cu $(CUDA_HDRS)
	@mkdir -p $(dir $@)
	$(CXX) $(EMU_CXXFLAGS) -x c++ -c $< -o $@
$(CUDA_B)/emu/emu_session.o: cuda/emu/emu_session.cc $(CUDA_HDRS)
	@mkdir -p $(dir $@)
	$(CXX) $(EMU_CXXFLAGS) -c $< -o $@

# C files that include cuda_attn.h (the root's %.o rule compiles them).
$(CUDA_B)/%.o $(BUILD)/lessons/%.o: CFLAGS += -Icuda
$(CUDA_B)/check_cuda.o: CFLAGS += $(CUDA_CHECK_CFLAGS)
$(CUDA_B)/check_cuda_emu.o: cuda/check_cuda.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(INC_ALL) -Icuda $(CUDA_CHECK_CFLAGS) -DCHECK_EMU -MMD -MP -c $< -o $@

# Links: C and C++ objects, the simulator library last (other fragments may add objects to a CUDA lesson).
cuda_link = $(CXX) $(LDFLAGS) $(filter-out $(LIB),$^) $(LIB) $(1) $(LDLIBS) -o $@
$(CUDA_B)/check_cuda: $(CUDA_B)/check_cuda.o $(CUDA_HOST_OBJ) $(CUDA_DEV_OBJ) $(LIB)
	$(call cuda_link,$(CUDA_CHECK_LIBS) $(CUDA_LDLIBS))
$(CUDA_B)/check_cuda_emu: $(CUDA_B)/check_cuda_emu.o $(CUDA_HOST_OBJ) $(CUDA_EMU_OBJ) $(LIB)
	$(call cuda_link,$(CUDA_CHECK_LIBS) -lpthread)
$(CUDA_B)/cuda_bench: $(CUDA_B)/cuda_bench.o $(CUDA_HOST_OBJ) $(CUDA_DEV_OBJ) $(LIB)
	$(call cuda_link,$(CUDA_LDLIBS))

define cuda_lesson_rule
$(call lesson_bin,$(1)): $(BUILD)/$(basename $(call lesson_src,$(1))).o $(CUDA_HOST_OBJ) $(CUDA_DEV_OBJ) $(LIB)
	@mkdir -p $$(dir $$@)
	$$(call cuda_link,$(CUDA_LDLIBS))
endef
$(foreach r,$(CUDA_LESSON_ROWS),$(eval $(call cuda_lesson_rule,$(r))))

all: $(CUDA_LESSON_BINS)
cuda: $(CUDA_LESSON_BINS) $(CUDA_B)/check_cuda $(CUDA_B)/check_cuda_emu $(CUDA_B)/cuda_bench

# make test: compile everything, run what needs no GPU; the GPU suites say SKIPPED themselves.
run-tests: cuda-test-nogpu
cuda-test-nogpu: cuda $(CUDA_CCHECK_OBJ)
	@echo "✓ nvcc -arch=sm_90 compiled every cuda/*.cu: $(notdir $(CUDA_KERNELS:%=%.cu) cuda_attn.cu $(CUDA_OTHER_CU))"
	$(CUDA_B)/check_cuda
ifeq ($(SAN),1)
	@echo "check_cuda_emu: SKIPPED under SAN=1: AddressSanitizer does not follow the emulator's coroutine stacks; plain make test runs it"
else
	$(CUDA_B)/check_cuda_emu
endif
	$(BINDIR)/lesson08 --quiet -N 300 --heads 2

test-cuda: cuda
	@bash cuda/test_cuda.sh $(CUDA_B) $(BINDIR)
ncu: cuda
	@bash cuda/ncu.sh $(CUDA_B)
cuda-bench: cuda
	@bash cuda/bench.sh $(CUDA_B)

-include $(CUDA_B)/*.d $(CUDA_B)/emu/*.d $(BUILD)/lessons/lesson08_cuda_kernels.d
else
cuda cuda-test-nogpu:
	@echo "✗ no nvcc: the CUDA kernels were not compiled; CUDA tests SKIPPED (install the CUDA Toolkit)"
run-tests: cuda-test-nogpu
test-cuda ncu cuda-bench:
	@echo "✗ no nvcc: $@ needs the CUDA Toolkit and a GPU" >&2; exit 2
endif
