# lessons/homework/homework.mk — the seed course's five exercises, graded by Check tests (included by the Makefile).
#
#   make homework          build each exercise's tests against YOUR file (lessons/homework/hwNN_*.c) and run them
#   make homework HW=02    one exercise
#   make homework-ci       CI: every test passes against the reference solutions (docs/solutions/) AND every test
#                          fails against the untouched stubs, so no test is vacuous
#
# Each exercise is its own test binary, so one that does not compile leaves the others gradable. Tests run in
# forked processes under a time limit (tests/homework/run_homework.c): a crash or endless loop fails that test.

HW_LIST := 01:online_softmax 02:tiling 03:speed 04:peak_memory 05:flash2
HW_NUM := $(if $(filter 1 2 3 4 5,$(HW)),0$(HW),$(HW))
HW_SEL := $(if $(HW),$(filter $(HW_NUM):%,$(HW_LIST)),$(HW_LIST))
HW_DIR := $(BUILD)/homework
HW_COMMON := $(BUILD)/tests/homework/run_homework.o

HELP_LINES += make_homework____grade_your_homework_(HW=02:_one_exercise;_docs/homework.md)
HELP_LINES += make_homework-ci_the_reference_passes_every_test_and_the_stubs_fail_every_test

$(BUILD)/tests/homework/%.o $(BUILD)/lessons/homework/%.o $(BUILD)/docs/solutions/%.o: \
    CFLAGS += -Ilessons/homework -Itests/homework $(shell pkg-config --cflags check 2>/dev/null)

# hw_rules(NN, stem): the student's binary and the reference's, from the same test objects.
define hw_rules
$(HW_DIR)/hw$(1): $(BUILD)/tests/homework/check_hw$(1).o $(HW_COMMON) $(BUILD)/lessons/homework/hw$(1)_$(2).o $(LIB)
	@mkdir -p $$(dir $$@)
	$(CC) $(LDFLAGS) $$^ $$(shell pkg-config --libs check 2>/dev/null) $(LDLIBS) -o $$@
$(HW_DIR)/ref/hw$(1): $(BUILD)/tests/homework/check_hw$(1).o $(HW_COMMON) $(BUILD)/docs/solutions/hw$(1)_$(2).o $(LIB)
	@mkdir -p $$(dir $$@)
	$(CC) $(LDFLAGS) $$^ $$(shell pkg-config --libs check 2>/dev/null) $(LDLIBS) -o $$@
endef
$(foreach e,$(HW_LIST),$(eval $(call hw_rules,$(word 1,$(subst :, ,$(e))),$(word 2,$(subst :, ,$(e))))))

-include $(wildcard $(BUILD)/tests/homework/*.d $(BUILD)/lessons/homework/*.d $(BUILD)/docs/solutions/*.d)

.PHONY: homework homework-ci

homework: check-deps
	@test -n "$(HW_SEL)" || { echo "make homework: HW must be one of 01 02 03 04 05, got '$(HW)'" >&2; exit 2; }
	@$(MAKE) -s lib
	@mkdir -p $(HW_DIR); fail=; \
	for e in $(HW_SEL); do n=$${e%%:*}; \
	    if ! $(MAKE) -s $(HW_DIR)/hw$$n >$(HW_DIR)/hw$$n.log 2>&1; then \
	        cat $(HW_DIR)/hw$$n.log; \
	        echo "== hw$$n: lessons/homework/hw$${n}_$${e#*:}.c does not compile — fix the first error above"; \
	        fail="$$fail hw$$n"; continue; fi; \
	    $(HW_DIR)/hw$$n || fail="$$fail hw$$n"; echo; \
	done; \
	if [ -n "$$fail" ]; then echo "homework: not yet:$$fail (docs/homework.md: how to read a failure)"; exit 1; fi; \
	echo "homework: every exercise passes"

homework-ci: check-deps
	@$(MAKE) -s lib
	@set -e; for e in $(HW_LIST); do n=$${e%%:*}; \
	    $(MAKE) -s $(HW_DIR)/ref/hw$$n $(HW_DIR)/hw$$n; \
	    echo "---- hw$$n against the reference solution (every test must pass)"; \
	    $(HW_DIR)/ref/hw$$n; \
	    echo "---- hw$$n against the untouched stub (every test must fail)"; \
	    $(HW_DIR)/hw$$n --expect-fail >$(HW_DIR)/hw$$n.stub.log 2>&1 || { cat $(HW_DIR)/hw$$n.stub.log; exit 1; }; \
	    tail -n 1 $(HW_DIR)/hw$$n.stub.log; \
	done; echo "homework-ci: the reference passes every test; every test fails against the stubs"
