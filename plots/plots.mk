# plots/plots.mk — the figures, drawn by gnuplot from data the simulator writes (included by the root Makefile).
#
#   make plots        every figure in plots/out/ as PNG (pngcairo) and SVG, from data written to plots/out/data/;
#                     both are ignored by git, so a learner's run changes no tracked file. Installs gnuplot-nox when
#                     missing.
#   make plots-term   figure 1 in the terminal (gnuplot's dumb terminal), for a learner without an image viewer
#   make plots-data-regen   for maintainers, on purpose: the same run writing the tracked data in plots/data/ and
#                     plots/hbm_vs_seqlen.png (figure 1, shown by the README); equal to PLOTS_DATA=plots/data make plots
#
# Figures 1-4 and 6-9 come from counts and are the same on every machine; figure 5 is a benchmark of this CPU,
# drawn from plots/data/bench_cpu.dat (make bench-cpu writes it: minutes, so make plots does not rerun it); figure 10
# puts the L2 model's predictions (counts too) beside the Nsight Compute tables recorded in plots/data; figure 11 draws
# a GPU record kept in plots/data (decode's block timeline, 2026-12-07), which make plots does not rewrite.

PLOTS_DATA ?= plots/out/data
PLOT_DATA := $(PLOTS_DATA)
PLOT_OUT := plots/out
# The README's figure is tracked: it is copied only when the tracked data is regenerated.
PLOT_README := $(if $(filter plots/data plots/data/,$(PLOT_DATA)),plots/hbm_vs_seqlen.png)
PLOT_RING := $(BUILD)/plots/ring_data
PLOT_DECODE := $(BUILD)/plots/decode_bytes
PLOT_L2 := $(BUILD)/plots/l2_predict
PLOT_FRAMES := $(BUILD)/plots/tile_frames
PLOT_FIGS := fig1_hbm_vs_seqlen fig2_hbm_vs_sram fig3_blocksize fig4_peak_memory fig5_runtime fig7_roofline \
             fig8_ring_traffic fig8_ring_overlap fig8_ring_imbalance fig9_decode_bytes fig10_l2 fig11_decode_tail
gnuplot_fig = gnuplot -e "fmt='$(2)'; out='$(PLOT_OUT)/$(1).$(2)'; data='$(PLOT_DATA)'; bench='plots/data/bench_cpu.dat'" plots/$(1).gp

HELP_LINES += make_plots_______every_figure_in_plots/out/_(PNG_and_SVG)_from_the_simulator
HELP_LINES += make_plots-term__figure_1_(HBM_traffic_vs_N)_drawn_in_the_terminal
HELP_LINES += make_plots-data-regen__(maintainers,_on_purpose)_rewrite_the_tracked_data_in_plots/data/

# tests/check_viewer.c runs tile_frames on lesson03's trace (figure 6's frames): built before the test runner.
$(TEST_BIN): | $(PLOT_FRAMES)
$(BUILD)/tests/check_viewer.o: CFLAGS += -DFRAMES_BIN='"$(PLOT_FRAMES)"'

.PRECIOUS: $(BUILD)/plots/%.o
$(BUILD)/plots/%: $(BUILD)/plots/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

.PHONY: plots plots-term plots-deps plots-data plots-draw plots-data-regen

plots-deps:
	@bash .ci/deps.sh gnuplot

# Data: lesson05's count-only sweeps, lesson03's tile schedule, lesson13's roofline, lesson12's rings (all counts: fast);
# the L2 model's predictions for the recorded ncu tables (about half a minute: two GPUs, fifteen forward passes each).
# Every program makes the directory and writes each file whole or not at all (exit 3 on a failed write).
plots-data: cpu $(PLOT_RING) $(PLOT_DECODE) $(PLOT_FRAMES) $(PLOT_L2)
	$(BINDIR)/lesson05 --quiet --out-dir $(PLOT_DATA)
	$(BINDIR)/lesson03 --quiet --trace csv --trace-file $(PLOT_DATA)/lesson03_trace.csv >/dev/null
	$(PLOT_FRAMES) $(PLOT_DATA)/lesson03_trace.csv $(PLOT_DATA)/lesson03_tiles.dat
	$(BINDIR)/lesson13 --quiet --out-dir $(PLOT_DATA) >/dev/null
	$(PLOT_RING) --out-dir $(PLOT_DATA)
	$(PLOT_DECODE) --out-dir $(PLOT_DATA)
	$(PLOT_L2) --out-dir $(PLOT_DATA) >/dev/null

plots-draw:
	@mkdir -p $(PLOT_OUT)
	@set -e; for f in $(PLOT_FIGS); do for t in png svg; do \
	    $(call gnuplot_fig,$$f,$$t); echo "  wrote $(PLOT_OUT)/$$f.$$t"; done; done
	@gnuplot -e "out='$(PLOT_OUT)/fig6_tiles.gif'; data='$(PLOT_DATA)'" plots/fig6_tiles.gp
	@echo "  wrote $(PLOT_OUT)/fig6_tiles.gif (animated)"
	@for t in png svg; do gnuplot -e "fmt='$$t'; frame=14; out='$(PLOT_OUT)/fig6_tiles.$$t'; data='$(PLOT_DATA)'" \
	    plots/fig6_tiles.gp; echo "  wrote $(PLOT_OUT)/fig6_tiles.$$t (one frame)"; done
	$(if $(PLOT_README),cp $(PLOT_OUT)/fig1_hbm_vs_seqlen.png $(PLOT_README))

plots: plots-deps
	@$(MAKE) plots-data
	@$(MAKE) plots-draw
	@echo "figures: $(PLOT_OUT)/ (PNG and SVG), data in $(PLOT_DATA)/$(if $(PLOT_README),; figure 1 also in $(PLOT_README))"

plots-data-regen:
	@$(MAKE) plots PLOTS_DATA=plots/data

plots-term: plots-deps cpu
	@$(BINDIR)/lesson05 --quiet --out-dir $(PLOT_DATA) >/dev/null
	@gnuplot -e "fmt='dumb'; data='$(PLOT_DATA)'" plots/fig1_hbm_vs_seqlen.gp
