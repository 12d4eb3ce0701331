# cuda/decode/decode.mk — lesson11's decode as CUDA kernels (split-KV, grouped-query heads), included by the root
# Makefile after the other CUDA fragments.
#
#   make decode-build    the library (libflashlab_decode.so, for the Python benchmark) and decode_check (no GPU needed)
#   make decode-test-nogpu   (part of make test) decode_check --plan: the plan's configurations pass the kernel's checks
#   make decode-ptxas    registers, spills and shared memory of every decode kernel; atomics only in the counting twin
#   make decode-check    (GPU) o vs fp64, counters vs closed form and simulator; the sanitizers on the small shapes
#   make bench-decode    (GPU) decode-check, then the kernel against SDPA's flash and cuDNN backends in one process

ifneq ($(NVCC),)
DEC_DIR := $(BUILD)/decode
DEC_NVFLAGS := -O3 -std=c++17 -arch=sm_90 $(INC_model) -Icuda/decode -Icuda/common -Xcompiler -fPIC
DEC_CFLAGS := $(CFLAGS) $(INC_ALL) -Icuda/decode -I$(CUDA_HOME)/include -fPIC
DEC_SO := $(BUILD)/libflashlab_decode.so
DEC_CHECK := $(BUILD)/decode_check
DEC_OBJ := $(DEC_DIR)/decode_splitkv.o $(DEC_DIR)/decode_host.o

$(DEC_DIR)/decode_splitkv.o: cuda/decode/decode_splitkv.cu cuda/decode/decode_cuda.h
	@mkdir -p $(dir $@)
	$(NVCC) $(DEC_NVFLAGS) -c $< -o $@
$(DEC_DIR)/%.o: cuda/decode/%.c cuda/decode/decode_cuda.h
	@mkdir -p $(dir $@)
	$(CC) $(DEC_CFLAGS) -c $< -o $@
# dtype_eps for the library's tolerance (and util.c, which dtype.c reports internal errors through), built
# position-independent: the library links nothing else of sim/.
$(DEC_DIR)/dtype_pic.o: sim/model/dtype.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(INC_model) -fPIC -c $< -o $@
$(DEC_DIR)/util_pic.o: sim/base/util.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(INC_base) -fPIC -c $< -o $@

# -z defs: an undefined symbol fails here, not at dlopen on the GPU machine. Under SAN=1 the C objects carry the
# sanitizers, so the library links their runtimes (Python then needs them preloaded: LD_PRELOAD=$(gcc
# -print-file-name=libasan.so)).
$(DEC_SO): $(DEC_OBJ) $(DEC_DIR)/dtype_pic.o $(DEC_DIR)/util_pic.o
	$(NVCC) -shared -Xlinker -z,defs $(if $(filter 1,$(SAN)),-Xcompiler -fsanitize=address -Xcompiler -fsanitize=undefined) -o $@ $^ \
	    -lcudart_static -ldl -lrt -lpthread
$(DEC_CHECK): $(DEC_DIR)/decode_check.o $(DEC_OBJ) $(LIB)
	$(CC) $(LDFLAGS) $^ -L$(CUDA_LIBDIR) -lcudart_static -lstdc++ -ldl -lrt -lpthread $(LDLIBS) -o $@

.PHONY: decode-build decode-ptxas decode-check bench-decode decode-test-nogpu
decode-build: $(DEC_SO) $(DEC_CHECK)

# make test (no GPU): fl_decode_plan's configuration for a grid of shapes and SM counts accepted by the kernel's own
# argument checks (a rule naming a variant the kernel refuses for its shape fails here), the bad calls refused
run-tests: decode-test-nogpu
decode-test-nogpu: $(DEC_CHECK)
	@$(DEC_CHECK) --plan > $(DEC_DIR)/plan.txt || { cat $(DEC_DIR)/plan.txt; \
	  echo "✗ decode_check --plan: fl_decode_plan chose a configuration fl_decode refuses, or a refusal failed" >&2; \
	  exit 1; }
	@echo "✓ $$(tail -1 $(DEC_DIR)/plan.txt)"
	@if [ -w /dev/full ]; then $(DEC_CHECK) --plan > /dev/full 2> /dev/null; rc=$$?; [ $$rc = 3 ] || \
	  { echo "✗ decode_check --plan > /dev/full exited $$rc, not 3 (a lost report)" >&2; exit 1; }; fi

decode-ptxas:
	$(NVCC) $(DEC_NVFLAGS) -Xptxas -v -c cuda/decode/decode_splitkv.cu -o /dev/null 2>&1 | \
	    grep -E 'Compiling entry|registers|spill' | sed 's/ptxas info *: //'

decode-check: $(DEC_CHECK)
	$(DEC_CHECK)

bench-decode: decode-build
	bash cuda/decode/decode_gpu.sh $(BUILD) plots/data

HELP_LINES += make_decode-build___lesson11's_CUDA_decode:_library_and_decode_check_(no_GPU_needed)
HELP_LINES += make_bench-decode___(GPU)_decode_checks,_sanitizers,_then_timed_against_SDPA_flash_and_cuDNN
endif

# make test (no GPU, no torch): figure 11's table is dec_timeline.py --tail of its GPU record, so the tracked table is
# regenerated here and must come out byte for byte; a table that cannot be written exits 3, bad configurations 2.
DEC_TAIL_REC := docs/gpu-runs/run11_H100_2026-12-07/timeline_1534.json.gz
DEC_TAIL_DAT := plots/data/decode_tail_H100_2026-12-07.dat
.PHONY: decode-tail-check
run-tests: decode-tail-check
decode-tail-check:
	@mkdir -p $(BUILD)
	@python3 cuda/decode/dec_timeline.py --tail $(DEC_TAIL_REC) --out $(BUILD)/decode_tail.dat && \
	  cmp -s $(BUILD)/decode_tail.dat $(DEC_TAIL_DAT) || \
	  { echo "✗ dec_timeline.py --tail: $(DEC_TAIL_DAT) is not what its record gives" >&2; exit 1; }
	@if [ -w /dev/full ]; then python3 cuda/decode/dec_timeline.py --tail $(DEC_TAIL_REC) --out /dev/full \
	  2> /dev/null; rc=$$?; [ $$rc = 3 ] || { echo "✗ dec_timeline.py --tail to /dev/full exited $$rc, not 3" >&2; \
	  exit 1; }; fi
	@python3 cuda/decode/dec_timeline.py --configs 1,2,3 2> /dev/null; rc=$$?; [ $$rc = 2 ] || \
	  { echo "✗ dec_timeline.py --configs 1,2,3 exited $$rc, not 2" >&2; exit 1; }
	@echo "✓ dec_timeline.py --tail: figure 11's table equals its GPU record's; a lost table exits 3, bad input 2"
