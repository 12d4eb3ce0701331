/* hw_check.h — what the homework tests share.
 *
 * Each tests/homework/check_hwNN.c defines its tests as Check tests and lists them in homework_tests[], with the
 * functions the student's object may call in homework_allowed[]. run_homework.c (the grader) runs every iteration
 * of every test in a process of its own and trusts only a result that comes back with its token (see there).
 *
 * For the tests: guarded HBM and call traps (hw_guard.c), and one attention case run on a memory model whose SRAM is
 * exactly the algorithm's plan, compared against the double reference, with the failure diagnosed (hw_attn.c).
 */
#ifndef FLASHLAB_HW_CHECK_H
#define FLASHLAB_HW_CHECK_H

#include <check.h>
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"
#include "homework.h"
#include "reference.h"
#include "rng.h"
#include "util.h"

/* Time limit of one test. The reference solutions take milliseconds per test (tens under ASan); 5 s is a hundred
 * times that, and short enough that an endless loop is reported before a student wonders whether anything runs. */
#define HW_TIMEOUT_S 5

/* fp32 storage and fp32 tile arithmetic against a double reference: a dot product of d terms and a softmax sum of
 * N terms each lose a few ulps (2^-24) per term. */
#define HW_ATOL 2e-5
#define HW_RTOL 1e-4
/* Large logits: q·k summed in fp32 over d terms of size ~qk_std^2 is off by ~sqrt(d)·qk_std^2 ulps, and e^(s - m)
 * moves by that much relatively, so the tolerance grows by HW_LOGIT_ULPS·sqrt(d)·qk_std^2·FLT_EPSILON. */
#define HW_LOGIT_ULPS 16.0
/* A diagnosis compares a wrong answer with what a typical mistake computes (no division by l, no rescaling, ...):
 * that answer is made the student's way in fp32, so it is matched loosely, on this share of the elements. */
#define HW_DIAG_RTOL 1e-3
#define HW_DIAG_SHARE 0.99

#define HW_MSG_LEN 1024      /* one failure message */

/* ---- the tests of one exercise, for run_homework.c ------------------------------------------------------------- */
typedef struct {
    const char *name;        /* a behaviour: "correct_on_shapes" */
    const TTest *test;       /* a Check test (START_TEST); iteration k runs it with _i = k */
    int n;                   /* iterations: 1 for a plain test, the table size for a loop over shapes */
} hw_test;

extern const char homework_name[], homework_title[];
/* The exercise's tests, in order; *n gets their number. check_hwNN.c defines it with HW_TESTS({...}, ...): a
 * Check test handle is a variable, not a constant, so the list is built when it is asked for. */
const hw_test *homework_tests(size_t *n);
#define HW_MAX_TESTS 16
#define HW_TESTS(...)                                                                                                 \
    const hw_test *homework_tests(size_t *n)                                                                          \
    {                                                                                                                 \
        static hw_test list[HW_MAX_TESTS];                                                                            \
        const hw_test now[] = {__VA_ARGS__};                                                                          \
        _Static_assert(sizeof now / sizeof now[0] <= HW_MAX_TESTS, "more tests than HW_MAX_TESTS");                   \
        memcpy(list, now, sizeof now);                                                                                \
        *n = sizeof now / sizeof now[0];                                                                              \
        return list;                                                                                                  \
    }
/* The functions (and data symbols) the student's object may use, beyond HW_ALLOW_COMMON; NULL-terminated. */
extern const char *const homework_allowed[];

/* What any solution may call: <math.h>, printing for debugging (stdout, stderr; the compiler turns some fprintf
 * calls into fwrite), assert, what the compiler emits on its own (memset/memcpy for loops, stack protection), and
 * the dtype helpers. */
#define HW_ALLOW_COMMON                                                                                              \
    "expf", "exp", "logf", "log", "log2f", "log2", "log1pf", "log1p", "expm1f", "expm1", "sqrtf", "sqrt", "fmaxf",   \
    "fmax", "fminf", "fmin", "fabsf", "fabs", "powf", "pow", "floorf", "floor", "ceilf", "ceil", "roundf", "round",  \
    "printf", "fprintf", "puts", "putchar", "fputs", "fputc", "putc", "fflush", "stdout", "stderr", "__printf_chk",  \
    "__fprintf_chk", "fwrite", "__assert_fail", "memset", "memcpy", "memmove", "__memcpy_chk", "__memset_chk", "__memmove_chk",                \
    "__stack_chk_fail", "_GLOBAL_OFFSET_TABLE_", "dtype_size", "dtype_name", "dtype_round"
/* The memory model, as an algorithm uses it: views, counted transfers, SRAM buffers, annotations, ledger reads. */
#define HW_ALLOW_MEMORY_MODEL                                                                                        \
    "hbm_whole", "hbm_head", "hbm_dtype", "hbm_numel", "hbm_name", "hbm_load_tile", "hbm_load_rows",                \
    "hbm_store_tile", "hbm_store_rows", "hbm_fill_rows", "sram_alloc", "sram_free", "sram_used", "sram_peak",       \
    "mem_sram_capacity", "mem_count_only", "mem_compute", "mem_phase", "mem_step", "mem_note", "mem_observed",      \
    "mem_io", "mem_flops", "mem_exps"

/* Largest writable static or global object a solution may define: counters and flags, not a copy of a tensor.
 * Data kept there is outside SRAM's accounting. */
#define HW_MAX_STATIC_BYTES 256

/* ---- guarded HBM, traps and counters (hw_guard.c) --------------------------------------------------------------- */
#define HW_GUARD_MAX 8
#define HW_FORWARD_LOG 64

/* Guard tensor t: its true contents are truth (NULL: it starts as garbage, the decoy), its storage holds decoy
 * between counted transfers. Both hold hbm_numel(t) floats; they are copied. */
void hw_guard_add(hbm_tensor *t, const float *truth, const float *decoy);
void hw_guard_begin(void);   /* storage := decoys; counted transfers swap the truth in */
void hw_guard_end(void);     /* storage := what counted stores made of it (hbm_download reads that) */
void hw_guard_reset(void);   /* forget every guarded tensor */

/* Make every measuring call fail the test, naming who measured (NULL: off). */
void hw_trap_set(const char *who);

typedef struct {
    attn_algo algo;
    size_t N;
    bool count_only;
    int threads;
} hw_forward_call;
typedef struct {
    hw_forward_call call[HW_FORWARD_LOG];
    size_t n;          /* attn_forward calls (the first HW_FORWARD_LOG are logged) */
    size_t peaks;      /* mem_hbm_peak calls */
} hw_forward_log;
const hw_forward_log *hw_forward_calls(void);
void hw_forward_calls_reset(void);

/* ---- one attention case (hw_attn.c) ----------------------------------------------------------------------------- */
typedef struct {
    size_t B, N, H, d, Br, Bc;
    bool causal;
    float qk_std;    /* Q and K ~ N(0, qk_std^2): 1 for ordinary logits, 30 for logits in the thousands */
    double scale;    /* p->scale, flash_attn_func's softmax_scale: 0 is its None, 1/sqrt(d) */
} hw_case;
/* The scale the case's scores get: c->scale, or 1/sqrt(d) when it is 0. */
double hw_scale(const hw_case *c);

typedef void (*hw_attn_fn)(mem_t *m, const attn_params *p, attn_tensors *t);

/* What running a student's (or the reference's) forward on one case produced, and what it is compared with. */
typedef struct {
    hw_case c;
    char cs[160];                 /* c for messages: "B=1 N=7 H=1 d=3 Br=2 Bc=3 causal" */
    attn_algo algo;
    float *q, *k, *v;             /* the inputs (B, N, H, d) */
    float *dq, *dk, *dv;          /* the decoys HBM held outside counted loads */
    float *o, *o_init;            /* O after the call (what counted stores wrote), and its garbage start */
    float *l, *l_init;            /* L = lse (flash2; NULL otherwise) */
    double *o_ref, *l_ref;        /* the double reference */
    double atol;                  /* O's absolute tolerance for this case */
    io_count io;                  /* everything counted */
    io_count q_io, k_io, v_io, o_io, l_io;   /* per tensor (l_io: flash2's L) */
    io_count m1_io, l1_io;        /* flash1's running statistics m and l */
    attn_io cf;                   /* the closed form of the algorithm */
} hw_run;

/* Run fn on case c with inputs from seed; M is exactly what algo's SRAM plan needs; HBM is guarded. */
void hw_attn_run(const hw_case *c, attn_algo algo, hw_attn_fn fn, uint64_t seed, hw_run *r);
void hw_run_free(hw_run *r);
/* The closed form's row for one tensor ("Q", "K", "V", "O", "L", "m", "l"); zeros when the algorithm has none. */
attn_io_row hw_cf(const attn_io *cf, const char *tensor);

/* Is O right? If not, msg gets one message naming the case, what is wrong (never stored, NaN, which elements) and
 * a hint chosen by the mistake the answer shows (missing division by l, missing rescaling, the ragged last block,
 * the causal mask, masked rows, heads, decoys read around the ledger, ...). */
bool hw_output_ok(const hw_run *r, char *msg, size_t len);
/* Is L = m + log(l) right (flash2)? */
bool hw_lse_ok(const hw_run *r, char *msg, size_t len);

/* A verdict on a run, as hw_output_ok: true, or false with one message in msg. */
typedef bool (*hw_verdict)(const hw_run *r, char *msg, size_t len);
/* One test's body: run fn on case c (hw_attn_run), then fail the test with the message of the first verdict of
 * first, then (unless NULL) second that is false. */
void hw_attn_check(const hw_case *c, attn_algo algo, hw_attn_fn fn, uint64_t seed, hw_verdict first,
                   hw_verdict second);

#endif
