# lessons/homework/homework.mk — the homework's six exercises, graded by Check tests (included by the Makefile).
#
#   make homework          grade YOUR files (lessons/homework/hwNN_*.c), all six
#   make homework HW=02    one exercise
#   make homework-ci       CI: every reference solution (docs/solutions/) passes, every untouched stub fails every
#                          test, and each solution of tests/homework/students/ gets the verdict its header expects
#   make homework-manifest after changing the grader, the answer key or a stub on purpose: record their checksums
#
# tests/homework/grade.sh drives it: it checks the grader's files against tests/homework/MANIFEST.sha256, builds from
# checksummed copies under $(HW_DIR)/src, runs tests/homework/run_homework.c's grader on each exercise, and restores
# any file of the tree a run changed. docs/homework.md explains what the grader checks and why.

HW_LIST := 01:online_softmax 02:tiling 03:speed 04:peak_memory 05:flash2 06:split_merge
HW_NUM := $(if $(filter 1 2 3 4 5 6,$(HW)),0$(HW),$(HW))
HW_SEL := $(if $(HW),$(filter $(HW_NUM):%,$(HW_LIST)),$(HW_LIST))
HW_DIR := $(BUILD)/homework
HW_SRC := $(HW_DIR)/src
HW_OBJ := $(HW_DIR)/obj
HW_CHK := $(HW_DIR)/check

HELP_LINES += make_homework____grade_your_homework_(HW=02:_one_exercise;_docs/homework.md)
HELP_LINES += make_homework-ci_references_pass,_stubs_fail,_hostile_solutions_get_their_verdicts

# The tests see the memory model through hw_guard.c: these calls are routed to its __wrap_ functions.
HW_WRAP := $(foreach f,hbm_load_tile hbm_load_rows hbm_store_tile hbm_store_rows hbm_fill_rows mem_create \
             attn_alloc attn_forward mem_hbm_peak,-Wl,--wrap=$(f))
HW_CFLAGS = $(CFLAGS) $(INC_ALL) -I$(HW_SRC)/lessons/homework -I$(HW_SRC)/tests/homework $(shell pkg-config --cflags check 2>/dev/null)
# The student's object as the grader inspects it: no sanitizer (its symbols and sections are the student's own), and
# no storage outside SRAM's accounting on the stack (a variable-length array, alloca, a frame above 1 KiB).
HW_CHECK_CFLAGS = $(filter-out -fsanitize=% -fno-sanitize-recover=% -O1,$(HW_CFLAGS)) -O2 -Wvla -Walloca \
                  -Wframe-larger-than=1024

$(HW_OBJ)/%.o: $(HW_SRC)/%.c
	@mkdir -p $(dir $@)
	$(CC) $(HW_CFLAGS) -MMD -MP -c $< -o $@
$(HW_CHK)/%.o: $(HW_SRC)/%.c
	@mkdir -p $(dir $@)
	$(CC) $(HW_CHECK_CFLAGS) -c $< -o $@

HW_COMMON := $(foreach f,run_homework hw_guard hw_attn,$(HW_OBJ)/tests/homework/$(f).o)
hw_link = $(CC) $(LDFLAGS) $(HW_WRAP) $^ $(shell pkg-config --libs check 2>/dev/null) $(LDLIBS) -o $@

# hw_rules(NN, stem): the grader (no student code), the student's binary, the reference's binary.
define hw_rules
$(HW_DIR)/grade_hw$(1): $(HW_OBJ)/tests/homework/check_hw$(1).o $(HW_COMMON) $(HW_OBJ)/tests/homework/hw_traps.o $(LIB)
	@mkdir -p $$(dir $$@)
	$$(hw_link)
$(HW_DIR)/hw$(1): $(HW_OBJ)/tests/homework/check_hw$(1).o $(HW_COMMON) $(HW_OBJ)/lessons/homework/hw$(1)_$(2).o $(LIB)
	@mkdir -p $$(dir $$@)
	$$(hw_link)
$(HW_DIR)/ref/hw$(1): $(HW_OBJ)/tests/homework/check_hw$(1).o $(HW_COMMON) $(HW_OBJ)/docs/solutions/hw$(1)_$(2).o $(LIB)
	@mkdir -p $$(dir $$@)
	$$(hw_link)
endef
$(foreach e,$(HW_LIST),$(eval $(call hw_rules,$(word 1,$(subst :, ,$(e))),$(word 2,$(subst :, ,$(e))))))

# CI's student files, tests/homework/students/hwNN_*.c and hwNN_*.patch (grade.sh makes the .c of a .patch under
# $(HW_SRC)): each linked against exercise NN's tests.
HW_STUDENTS := $(basename $(notdir $(wildcard tests/homework/students/hw*.c tests/homework/students/hw*.patch)))
define hw_student_rule
$(HW_DIR)/students/$(1): $(HW_OBJ)/tests/homework/check_$(firstword $(subst _, ,$(1))).o $(HW_COMMON) \
                         $(HW_OBJ)/tests/homework/students/$(1).o $(LIB)
	@mkdir -p $$(dir $$@)
	$$(hw_link)
endef
$(foreach s,$(HW_STUDENTS),$(eval $(call hw_student_rule,$(s))))

-include $(shell find $(HW_OBJ) -name '*.d' 2>/dev/null)

.PHONY: homework homework-ci homework-manifest

homework: check-deps
	@test -n "$(HW_SEL)" || { echo "make homework: HW must be one of 01 02 03 04 05 06, got '$(HW)'" >&2; exit 2; }
	@MAKE="$(MAKE)" BUILD="$(BUILD)" HW_LIST="$(HW_LIST)" bash tests/homework/grade.sh grade $(HW_SEL)

homework-ci: check-deps
	@MAKE="$(MAKE)" BUILD="$(BUILD)" HW_LIST="$(HW_LIST)" bash tests/homework/grade.sh ci $(HW_LIST)

homework-manifest:
	@bash tests/homework/grade.sh manifest
