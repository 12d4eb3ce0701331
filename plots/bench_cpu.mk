# plots/bench_cpu.mk — make bench-cpu: the simulator's attention arithmetic against OpenBLAS on this CPU
# (plots/bench_cpu.c). Installs OpenBLAS when run as root (.ci/deps.sh), else prints the command; writes
# plots/data/bench_cpu.dat, which figure 5 draws. A few minutes on two cores. Included by the root Makefile.

BENCH_CPU := $(BUILD)/plots/bench_cpu
HELP_LINES += make_bench-cpu___the_simulator's_attention_against_OpenBLAS_on_this_CPU_(figure_5's_data)

.PHONY: bench-cpu bench-cpu-deps

bench-cpu-deps:
	@bash .ci/deps.sh cc openblas

# A fresh make after the install, so pkg-config below sees OpenBLAS.
bench-cpu: bench-cpu-deps
	@$(MAKE) $(BENCH_CPU)
	$(BENCH_CPU) --out-dir plots/data

$(BUILD)/plots/bench_cpu.o: CFLAGS += $(shell pkg-config --cflags openblas 2>/dev/null)
$(BENCH_CPU): $(BUILD)/plots/bench_cpu.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(shell pkg-config --libs openblas 2>/dev/null) $(LDLIBS) -o $@
