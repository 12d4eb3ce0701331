/* hw_guard.c — what stands between a student's code and the memory model in the homework tests.
 *
 * Every homework binary is linked with --wrap for the calls below (lessons/homework/homework.mk: HW_WRAP), so a call
 * to hbm_load_rows from any object lands in __wrap_hbm_load_rows here, which calls the real one (__real_...).
 *
 *   guarded HBM  While a test runs the student's function (hw_guard_begin .. hw_guard_end), the storage of the
 *                tensors under test holds decoys: other random values of the same size. A counted transfer swaps
 *                the true contents of its tensor in for exactly its own duration, and keeps what a counted store
 *                wrote. So only counted reads see the inputs, and only counted writes reach the result: code that
 *                reads a tensor's storage any other way (its struct fields, hbm_download) computes on decoys.
 *   traps        hw_trap_set("hw04_predict_peak_bytes") makes every measuring call (mem_create, attn_alloc,
 *                attn_forward, mem_hbm_peak) fail the running test, naming the call: a prediction must not measure.
 *   counters     hw_forward_calls() counts attn_forward calls per algorithm and N, and notes the ones that ran in
 *                count-only mode or on more than one thread: hw03 must time the real thing, hw04 must measure.
 *
 * Outside a test (the grader's own setup and the library's internal calls) every wrapper only passes the call on.
 */
#include <check.h>
#include <string.h>

#include "hw_check.h"

/* The real functions, reached through the linker's --wrap. */
void __real_hbm_load_tile(mem_t *m, float *dst, hbm_mat src, size_t r0, size_t nrows, size_t c0, size_t ncols,
                          const char *tile);
void __real_hbm_store_tile(mem_t *m, hbm_mat dst, size_t r0, size_t nrows, size_t c0, size_t ncols,
                           const float *src, const char *tile);
void __real_hbm_load_rows(mem_t *m, float *dst, hbm_mat src, size_t r0, size_t nrows, const char *tile);
void __real_hbm_store_rows(mem_t *m, hbm_mat dst, size_t r0, size_t nrows, const float *src, const char *tile);
void __real_hbm_fill_rows(mem_t *m, hbm_mat dst, size_t r0, size_t nrows, float value, const char *what);
mem_t *__real_mem_create(size_t sram_capacity_bytes, bool count_only);
attn_tensors __real_attn_alloc(mem_t *m, const attn_params *p, dtype_t dt, bool backward);
void __real_attn_forward(mem_t *m, const attn_params *p, attn_tensors *t);
uint64_t __real_mem_hbm_peak(const mem_t *m);

/* ---- guarded HBM ------------------------------------------------------------------------------------------------ */

typedef struct {
    hbm_tensor *t;
    float *truth;    /* what counted stores have made of the tensor (inputs: the test's values) */
    float *decoy;    /* what its storage holds between counted transfers */
} guarded;

static guarded G[HW_GUARD_MAX];
static size_t nguarded;
static bool active;

void hw_guard_add(hbm_tensor *t, const float *truth, const float *decoy)
{
    ck_assert_msg(nguarded < HW_GUARD_MAX, "internal: more than %d guarded tensors", HW_GUARD_MAX);
    size_t n = hbm_numel(t);
    guarded *g = &G[nguarded++];
    g->t = t;
    g->truth = xmalloc(n * sizeof *g->truth);
    g->decoy = xmalloc(n * sizeof *g->decoy);
    memcpy(g->decoy, decoy, n * sizeof *g->decoy);
    memcpy(g->truth, truth ? truth : decoy, n * sizeof *g->truth);   /* no truth yet: HBM holds garbage */
}

static guarded *find(const hbm_tensor *t)
{
    for (size_t i = 0; i < nguarded; i++)
        if (G[i].t == t)
            return &G[i];
    return NULL;
}

void hw_guard_begin(void)
{
    for (size_t i = 0; i < nguarded; i++)
        hbm_upload(G[i].t, G[i].decoy);
    active = true;
}

void hw_guard_end(void)
{
    active = false;
    for (size_t i = 0; i < nguarded; i++)
        hbm_upload(G[i].t, G[i].truth);
}

void hw_guard_reset(void)
{
    active = false;
    for (size_t i = 0; i < nguarded; i++) {
        free(G[i].truth);
        free(G[i].decoy);
    }
    nguarded = 0;
}

/* Around one counted transfer of tensor t: the truth in, then (after a store) the truth kept and the decoy back. */
static guarded *swap_in(const hbm_tensor *t)
{
    guarded *g = active ? find(t) : NULL;
    if (g)
        hbm_upload(g->t, g->truth);
    return g;
}

static void swap_out(guarded *g, bool wrote)
{
    if (!g)
        return;
    if (wrote)
        hbm_download(g->t, g->truth);
    hbm_upload(g->t, g->decoy);
}

void __wrap_hbm_load_tile(mem_t *m, float *dst, hbm_mat src, size_t r0, size_t nrows, size_t c0, size_t ncols,
                          const char *tile)
{
    guarded *g = swap_in(src.t);
    __real_hbm_load_tile(m, dst, src, r0, nrows, c0, ncols, tile);
    swap_out(g, false);
}

void __wrap_hbm_load_rows(mem_t *m, float *dst, hbm_mat src, size_t r0, size_t nrows, const char *tile)
{
    guarded *g = swap_in(src.t);
    __real_hbm_load_rows(m, dst, src, r0, nrows, tile);
    swap_out(g, false);
}

void __wrap_hbm_store_tile(mem_t *m, hbm_mat dst, size_t r0, size_t nrows, size_t c0, size_t ncols,
                           const float *src, const char *tile)
{
    guarded *g = swap_in(dst.t);
    __real_hbm_store_tile(m, dst, r0, nrows, c0, ncols, src, tile);
    swap_out(g, true);
}

void __wrap_hbm_store_rows(mem_t *m, hbm_mat dst, size_t r0, size_t nrows, const float *src, const char *tile)
{
    guarded *g = swap_in(dst.t);
    __real_hbm_store_rows(m, dst, r0, nrows, src, tile);
    swap_out(g, true);
}

void __wrap_hbm_fill_rows(mem_t *m, hbm_mat dst, size_t r0, size_t nrows, float value, const char *what)
{
    guarded *g = swap_in(dst.t);
    __real_hbm_fill_rows(m, dst, r0, nrows, value, what);
    swap_out(g, true);
}

/* ---- traps and counters ----------------------------------------------------------------------------------------- */

static const char *trap_who;
static hw_forward_log fwd;

void hw_trap_set(const char *who) { trap_who = who; }

static void trap(const char *call)
{
    if (trap_who) {
        const char *who = trap_who;
        trap_who = NULL;
        ck_abort_msg("%s measured instead of predicting: it called %s. A prediction is a formula in N, d and "
                     "dtype_size(dt) — which tensors are allocated at the peak, and how big is each?", who, call);
    }
}

const hw_forward_log *hw_forward_calls(void) { return &fwd; }
void hw_forward_calls_reset(void) { memset(&fwd, 0, sizeof fwd); }

mem_t *__wrap_mem_create(size_t sram_capacity_bytes, bool count_only)
{
    trap("mem_create");
    return __real_mem_create(sram_capacity_bytes, count_only);
}

attn_tensors __wrap_attn_alloc(mem_t *m, const attn_params *p, dtype_t dt, bool backward)
{
    trap("attn_alloc");
    return __real_attn_alloc(m, p, dt, backward);
}

void __wrap_attn_forward(mem_t *m, const attn_params *p, attn_tensors *t)
{
    trap("attn_forward");
    if (fwd.n < HW_FORWARD_LOG)
        fwd.call[fwd.n] = (hw_forward_call){p->algo, p->N, mem_count_only(m), p->threads};
    fwd.n++;
    __real_attn_forward(m, p, t);
}

uint64_t __wrap_mem_hbm_peak(const mem_t *m)
{
    trap("mem_hbm_peak");
    fwd.peaks++;
    return __real_mem_hbm_peak(m);
}
