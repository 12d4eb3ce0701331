# sim/course/viewer.mk — the HTML replay (--trace html): its page embedded in the library, and make test-viewer.
# Included by the root Makefile (BUILD, CPU_BINS, BINDIR).
#
#   make test-viewer   every CPU lesson's replay opened in headless chromium (installed by .ci/deps.sh when missing):
#                      no console error, the totals replayed to the end equal the lesson's summary line, and a
#                      screenshot of each in build/viewer/ (ignored)

# sim/course/viewer.html, one C string per line (backslashes, quotes and '?' escaped: no trigraphs), for
# sim/course/trace_html.c to write out around the run's data.
VIEWER_INC := $(BUILD)/gen/viewer_page.inc
$(VIEWER_INC): sim/course/viewer.html sim/course/viewer.mk
	@mkdir -p $(dir $@)
	@LC_ALL=C sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/?/\\?/g' -e 's/^/"/' -e 's/$$/",/' $< > $@.tmp
	@mv $@.tmp $@
$(BUILD)/sim/course/trace_html.o: $(VIEWER_INC)
$(BUILD)/sim/course/trace_html.o: CFLAGS += -I$(BUILD)/gen

HELP_LINES += make_test-viewer__open_every_lesson's_HTML_replay_in_headless_chromium_(installs_it_when_missing)

.PHONY: test-viewer viewer-deps
viewer-deps:
	@bash .ci/deps.sh chromium

test-viewer: viewer-deps cpu
	@bash tests/viewer/run.sh build/viewer
