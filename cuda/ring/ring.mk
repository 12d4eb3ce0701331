# cuda/ring/ring.mk — ring attention on GPUs through NCCL (cuda/ring/): the kernels, the ring_nccl program, its GPU
# script. Included by the root Makefile (BUILD, LIB, CC, CFLAGS, INC_ALL, NVCC, CUDA_HOME, CUDA_LIBDIR come from there).
#
#   make ring-nccl       build/<rel|san>/cuda/ring/ring_nccl (needs nvcc and NCCL: nccl.h and libnccl.so)
#   make test-ring-nccl  on a GPU: cuda/ring/ring_gpu.sh (P = 1, and P devices played on one GPU through NCCL)
#
# NCCL is looked for under NCCL_HOME (default: the CUDA Toolkit); the program loads libnccl.so.2 at run time
# (LD_LIBRARY_PATH: PyTorch's nvidia-nccl wheel has one, ring_gpu.sh finds it).

RING_B := $(BUILD)/cuda/ring
NCCL_HOME ?= $(CUDA_HOME)
NCCL_INC := $(firstword $(foreach d,$(NCCL_HOME)/include $(CUDA_HOME)/include,$(if $(wildcard $(d)/nccl.h),$(d))))
NCCL_LIB := $(firstword $(foreach d,$(NCCL_HOME)/lib $(NCCL_HOME)/lib64 $(CUDA_LIBDIR),$(if $(wildcard $(d)/libnccl.so),$(d))))

HELP_LINES += make_ring-nccl___ring_attention_over_GPUs_through_NCCL_(cuda/ring/:_needs_nvcc_and_NCCL)
HELP_LINES += make_test-ring-nccl__on_a_GPU:_the_ring_with_P=1_and_P_devices_played_on_one_GPU

.PHONY: ring-nccl test-ring-nccl

ifneq ($(and $(NVCC),$(NCCL_INC),$(NCCL_LIB)),)
RING_NVCCFLAGS := -O3 -arch=sm_90 -std=c++17 -lineinfo -Icuda/ring -Xcompiler -Wall,-Wextra
$(RING_B)/ring_kernels.o: cuda/ring/ring_kernels.cu cuda/ring/ring_cuda.h
	@mkdir -p $(dir $@)
	$(NVCC) $(RING_NVCCFLAGS) -c $< -o $@
$(RING_B)/ring_nccl.o: cuda/ring/ring_nccl.c cuda/ring/ring_cuda.h $(wildcard include/*/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(INC_ALL) -Icuda/ring -I$(CUDA_HOME)/include -I$(NCCL_INC) -c $< -o $@
$(RING_B)/ring_nccl: $(RING_B)/ring_nccl.o $(RING_B)/ring_kernels.o $(LIB)
	$(CXX) $(LDFLAGS) $^ -L$(NCCL_LIB) -lnccl -L$(CUDA_LIBDIR) -lcudart_static -ldl -lrt -lpthread $(LDLIBS) -o $@
ring-nccl: $(RING_B)/ring_nccl
test-ring-nccl: $(RING_B)/ring_nccl
	bash cuda/ring/ring_gpu.sh $(RING_B)/ring_nccl
else
ring-nccl test-ring-nccl:
	@echo "ring-nccl: needs nvcc and NCCL (nccl.h, libnccl.so under NCCL_HOME=$(NCCL_HOME)); not built"
endif
