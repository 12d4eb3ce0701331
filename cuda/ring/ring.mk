# cuda/ring/ring.mk — ring attention on GPUs (cuda/ring/): the local kernels, the ring driver built twice, its GPU
# script. Included by the root Makefile after cuda/cuda.mk (BUILD, LIB, CC, CFLAGS, INC_ALL, NVCC, CUDA_HOME,
# CUDA_LIBDIR, CUDA_B, CUDA_INC, TC_SO_OBJ, cuda_link come from there).
#
#   make ring-emu        build/<rel|san>/cuda/ring/ring_emu: the ring with every transfer a cudaMemcpyAsync on one GPU
#                        (P devices as slices of its memory); needs nvcc only. make cuda (and so make test) builds it.
#   make ring-nccl       build/<rel|san>/cuda/ring/ring_nccl: the same with NCCL's send/recv (needs nccl.h, libnccl)
#   make test-ring       on a GPU: cuda/ring/ring_gpu.sh (P = 1 .. 8 emulated, the NCCL path with P = 1, sanitizer)
#
# NCCL is looked for under NCCL_HOME (default: the CUDA Toolkit), then in PyTorch's nvidia-nccl wheel
# (site-packages/nvidia/nccl/{include,lib}); the program loads libnccl.so.2 at run time (ring_gpu.sh sets
# LD_LIBRARY_PATH for the wheel's).

RING_B := $(BUILD)/cuda/ring
NCCL_HOME ?= $(CUDA_HOME)
nccl_inc = $(firstword $(foreach d,$(1),$(if $(wildcard $(d)/include/nccl.h),$(d)/include)))
nccl_lib = $(firstword $(foreach d,$(1),$(foreach l,lib lib64,$(if $(wildcard $(d)/$(l)/libnccl.so*),$(d)/$(l)))))
NCCL_INC := $(call nccl_inc,$(NCCL_HOME) $(CUDA_HOME))
NCCL_LIB := $(call nccl_lib,$(NCCL_HOME) $(CUDA_HOME))
ifneq ($(NVCC),)
ifeq ($(and $(NCCL_INC),$(NCCL_LIB)),)   # Python is asked only when the toolkit has no NCCL
NCCL_WHEEL := $(shell python3 -c 'import nvidia.nccl; print(list(nvidia.nccl.__path__)[0])' 2>/dev/null)
NCCL_INC := $(call nccl_inc,$(NCCL_WHEEL))
NCCL_LIB := $(call nccl_lib,$(NCCL_WHEEL))
endif
endif
# the wheel has only libnccl.so.2: link it by its path
NCCL_LINK := $(if $(wildcard $(NCCL_LIB)/libnccl.so),-L$(NCCL_LIB) -lnccl,$(NCCL_LIB)/libnccl.so.2)

HELP_LINES += make_ring-emu____ring_attention_emulated_on_one_GPU_(cuda/ring/:_needs_nvcc)
HELP_LINES += make_ring-nccl___ring_attention_over_GPUs_through_NCCL_(needs_nvcc_and_NCCL)
HELP_LINES += make_test-ring___(GPU)_the_ring's_checks:_P=1..8_emulated,_NCCL_with_P=1,_sanitizer,_timing

.PHONY: ring-emu ring-nccl test-ring

ifneq ($(NVCC),)
RING_NVCCFLAGS := -O3 -arch=sm_90 -std=c++17 -lineinfo -Icuda/ring -Xcompiler -Wall,-Wextra
RING_CFLAGS := $(CFLAGS) $(INC_ALL) $(CUDA_INC) -Icuda/ring -I$(CUDA_HOME)/include
RING_OBJ := $(RING_B)/ring_kernels.o $(CUDA_B)/tc/tc_chunk.o $(CUDA_B)/tc/attn_v09_addressing.o $(CUDA_B)/common/ref_rows.o
RING_HDRS := cuda/ring/ring_cuda.h cuda/tc/tc_chunk.h $(wildcard include/*/*.h cuda/common/*.h cuda/tc/*.h)

$(RING_B)/ring_kernels.o: cuda/ring/ring_kernels.cu cuda/ring/ring_cuda.h
	@mkdir -p $(dir $@)
	$(NVCC) $(RING_NVCCFLAGS) -c $< -o $@
$(RING_B)/ring_emu.o: cuda/ring/ring_nccl.c $(RING_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(RING_CFLAGS) -c $< -o $@
$(RING_B)/ring_emu: $(RING_B)/ring_emu.o $(RING_OBJ) $(LIB)
	$(call cuda_link,$(CUDA_LDLIBS))
ring-emu: $(RING_B)/ring_emu
cuda: $(RING_B)/ring_emu

ifneq ($(and $(NCCL_INC),$(NCCL_LIB)),)
$(RING_B)/ring_nccl.o: cuda/ring/ring_nccl.c $(RING_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(RING_CFLAGS) -DRING_NCCL -I$(NCCL_INC) -c $< -o $@
$(RING_B)/ring_nccl: $(RING_B)/ring_nccl.o $(RING_OBJ) $(LIB)
	$(call cuda_link,$(NCCL_LINK) $(CUDA_LDLIBS))
ring-nccl: $(RING_B)/ring_nccl
cuda: $(RING_B)/ring_nccl
test-ring: $(RING_B)/ring_emu $(RING_B)/ring_nccl
	bash cuda/ring/ring_gpu.sh $(RING_B)/gpu-logs
else
ring-nccl:
	@echo "ring-nccl: needs NCCL (nccl.h and libnccl under NCCL_HOME=$(NCCL_HOME) or PyTorch's nvidia-nccl wheel); not built"
test-ring: $(RING_B)/ring_emu
	bash cuda/ring/ring_gpu.sh $(RING_B)/gpu-logs
endif
else
ring-emu ring-nccl test-ring:
	@echo "$@: needs nvcc; not built"
endif
