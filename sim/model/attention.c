/* attention.c — the public attention API (include/model/attention.h) over the table of algorithms: each row is an
 * attn_algo_def defined in its own file (attn_<name>.c, listed in include/model/algos.def); this file only looks
 * things up in the table and does what every algorithm needs the same way (checks, tensors, block choice, the
 * closed forms' scaling to B*H heads). It names no particular algorithm. */
#include <stdio.h>
#include <string.h>

#include "attn_common.h"

static const attn_algo_def *const algos[ATTN_NALGOS] = {
#define ATTN_ALGO(ID, name) [ATTN_##ID] = &attn_algo_##name,
#include "algos.def"
#undef ATTN_ALGO
};

/* Every field of a row is required: a row that forgot one is a bug found at its first use, not a crash. */
static void check_row(const attn_algo_def *a)
{
    const attn_pass_def *ps[2] = {&a->forward, &a->backward};
    if (!a->name || !a->alloc_saved)
        fl_internal("an attention algorithm's row lacks its name or alloc_saved");
    for (int k = 0; k < 2; k++)
        if (!ps[k]->run || !ps[k]->plan || !ps[k]->closed_form || !ps[k]->code.title || !ps[k]->code.require ||
            !ps[k]->code.line || !ps[k]->code.n)
            fl_internal("algorithm %s: its %s row lacks run, plan, closed_form or pseudocode", a->name,
                        k ? "backward" : "forward");
}

/* The row of algorithm a: an algorithm outside the table is a bug in the caller, never the user's input (names
 * are parsed by attn_algo_parse). */
static const attn_algo_def *row(attn_algo a)
{
    if ((unsigned)a >= ATTN_NALGOS)
        fl_internal("attention algorithm %d is not in the table (include/model/algos.def)", (int)a);
    check_row(algos[a]);
    return algos[a];
}

static const attn_pass_def *pass(attn_algo a, bool backward)
{
    return backward ? &row(a)->backward : &row(a)->forward;
}

const char *attn_algo_name(attn_algo a) { return (unsigned)a < ATTN_NALGOS ? algos[a]->name : "unknown"; }

int attn_algo_parse(const char *s, attn_algo *out)
{
    for (int a = 0; a < ATTN_NALGOS; a++)
        if (s && !strcmp(s, algos[a]->name)) {
            *out = (attn_algo)a;
            return 0;
        }
    return -1;
}

const attn_pseudocode *attn_algo_pseudocode(attn_algo a, bool backward) { return &pass(a, backward)->code; }

/* ---- SRAM plans and block choice ------------------------------------------------------------------------------ */

void attn_sram_plan(attn_algo a, bool backward, size_t Br, size_t Bc, size_t d, dtype_t dt, sram_plan *out)
{
    pass(a, backward)->plan(Br, Bc, d, dt, out);
}

size_t attn_sweep_plans(attn_algo a, bool backward, size_t Br, size_t Bc, size_t d, dtype_t dt,
                        sram_plan out[ATTN_MAX_SWEEPS])
{
    const attn_pass_def *ps = pass(a, backward);
    if (!ps->sweeps) {
        ps->plan(Br, Bc, d, dt, &out[0]);
        return 1;
    }
    return ps->sweeps(Br, Bc, d, dt, out);
}

size_t attn_sram_need(attn_algo a, bool backward, size_t Br, size_t Bc, size_t d, dtype_t dt)
{
    sram_plan p;
    attn_sram_plan(a, backward, Br, Bc, d, dt, &p);
    return p.bytes;
}

/* blocks.h's need function for one pass: its plan's total. */
static size_t pass_need(const void *pass, size_t Br, size_t Bc, size_t d, dtype_t dt)
{
    sram_plan p;
    ((const attn_pass_def *)pass)->plan(Br, Bc, d, dt, &p);
    return p.bytes;
}

block_rule attn_block_rule(attn_algo a, bool backward) { return pass(a, backward)->rule; }

int attn_choose_blocks(attn_params *p, bool backward, size_t M_bytes, dtype_t dt, size_t Br_req, size_t Bc_req,
                       block_choice *out, char *err, size_t errlen)
{
    return attn_choose_blocks_rule(p, backward, M_bytes, dt, Br_req, Bc_req, attn_block_rule(p->algo, backward), out,
                                   err, errlen);
}

int attn_choose_blocks_rule(attn_params *p, bool backward, size_t M_bytes, dtype_t dt, size_t Br_req, size_t Bc_req,
                            block_rule rule, block_choice *out, char *err, size_t errlen)
{
    const attn_pass_def *ps = pass(p->algo, backward);
    if (!p->N || !p->d) {
        snprintf(err, errlen, "N = %zu and d = %zu must both be at least 1", p->N, p->d);
        return -1;
    }
    if (blocks_choose_ctx(M_bytes, p->N, p->d, dt, Br_req, Bc_req, pass_need, ps, rule, out, err, errlen))
        return -1;
    p->Br = out->Br;
    p->Bc = out->Bc;
    return 0;
}

/* ---- tensors -------------------------------------------------------------------------------------------------- */

attn_tensors attn_alloc(mem_t *m, const attn_params *p, dtype_t dt, bool backward)
{
    attn_tensors t;
    memset(&t, 0, sizeof t);
    const attn_algo_def *a = row(p->algo);
    if (!p->B || !p->N || !p->H || !p->d)
        fl_fatal("attention shape B=%zu N=%zu H=%zu d=%zu: every size must be at least 1", p->B, p->N, p->H, p->d);
    t.q = hbm_alloc_bnhd(m, "Q", dt, p->B, p->N, p->H, p->d);
    t.k = hbm_alloc_bnhd(m, "K", dt, p->B, p->N, p->H, p->d);
    t.v = hbm_alloc_bnhd(m, "V", dt, p->B, p->N, p->H, p->d);
    t.out = hbm_alloc_bnhd(m, "O", dt, p->B, p->N, p->H, p->d);
    a->alloc_saved(m, p, dt, &t);
    if (backward) {
        t.dout = hbm_alloc_bnhd(m, "dO", dt, p->B, p->N, p->H, p->d);
        t.dq = hbm_alloc_bnhd(m, "dQ", dt, p->B, p->N, p->H, p->d);
        t.dk = hbm_alloc_bnhd(m, "dK", dt, p->B, p->N, p->H, p->d);
        t.dv = hbm_alloc_bnhd(m, "dV", dt, p->B, p->N, p->H, p->d);
    }
    return t;
}

void attn_free(mem_t *m, attn_tensors *t)
{
    hbm_tensor **all[] = {&t->q, &t->k, &t->v, &t->out, &t->lse, &t->m, &t->l, &t->P, &t->S,
                          &t->dout, &t->dq, &t->dk, &t->dv, &t->dP, &t->dS, &t->D};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        hbm_free(m, *all[i]);
        *all[i] = NULL;
    }
}

/* ---- running -------------------------------------------------------------------------------------------------- */

/* The user's M must hold the pass's plan: a smaller one is bad input (exit 2), said in one line. */
static void check_sram(const mem_t *m, const attn_params *p, bool backward, dtype_t dt)
{
    size_t need = attn_sram_need(p->algo, backward, p->Br, p->Bc, p->d, dt);
    if (need > mem_sram_capacity(m))
        fl_fatal("SRAM too small: %s %s with Br=%zu, Bc=%zu, d=%zu (%s) needs %zu bytes, M = %zu bytes; these blocks "
                 "fit from -M %zu", attn_algo_name(p->algo), backward ? "backward" : "forward", p->Br, p->Bc, p->d,
                 dtype_name(dt), need, mem_sram_capacity(m), need);
}

/* A pass that does not run a sliding window would attend to every earlier key: refused, not ignored. */
static void check_window(const attn_params *p, bool backward)
{
    if (p->window && !pass(p->algo, backward)->window)
        fl_fatal("%s %s does not run a sliding window (window=%zu): only flash2's forward pass does",
                 attn_algo_name(p->algo), backward ? "backward" : "forward", p->window);
}

/* Checks what every pass of every algorithm reads and writes (the algorithm checks what its forward saved), that
 * the user's M holds the pass's plan, then runs it. */
static void run_pass(mem_t *m, const attn_params *p, attn_tensors *t, bool backward)
{
    const struct {
        const hbm_tensor *x;
        const char *name;
    } io[] = {{t->q, "Q"}, {t->k, "K"}, {t->v, "V"}, {t->out, "O"},             /* forward and backward */
              {t->dout, "dO"}, {t->dq, "dQ"}, {t->dk, "dK"}, {t->dv, "dV"}};   /* backward */
    attn_check_params(p);
    check_window(p, backward);
    for (size_t k = 0; k < (backward ? 8u : 4u); k++)
        attn_need(io[k].x, io[k].name, attn_algo_name(p->algo));
    check_sram(m, p, backward, hbm_dtype(t->q));
    pass(p->algo, backward)->run(m, p, t);
}

void attn_forward(mem_t *m, const attn_params *p, attn_tensors *t) { run_pass(m, p, t, false); }
void attn_backward(mem_t *m, const attn_params *p, attn_tensors *t) { run_pass(m, p, t, true); }

/* ---- closed forms --------------------------------------------------------------------------------------------- *
 * Each algorithm derives one head's ledger from its pseudocode line by line, as arithmetic: nothing walks the
 * tiles. Per head, Tr = ⌈N/Br⌉ query blocks and Tc = ⌈N/Bc⌉ key blocks; the rows of all blocks of Q (or K) add up
 * to N, ragged last block included, so "load every block once" is N rows. Every head does the same, so the totals
 * here are the head's times B*H. */
void attn_io_closed_form(const attn_params *p, bool backward, attn_io *out)
{
    attn_check_params(p);
    check_window(p, backward);
    memset(out, 0, sizeof *out);
    pass(p->algo, backward)->closed_form(p, out);
    uint64_t BH = attn_mul(p->B, p->H);
    for (size_t k = 0; k < out->n; k++) {
        out->row[k].rd = attn_mul(out->row[k].rd, BH);
        out->row[k].wr = attn_mul(out->row[k].wr, BH);
        if (out->row[k].rd > UINT64_MAX - out->rd || out->row[k].wr > UINT64_MAX - out->wr)
            fl_fatal("the closed-form ledger overflows 64 bits (N, B or H too large)");
        out->rd += out->row[k].rd;
        out->wr += out->row[k].wr;
    }
    out->tiles = attn_mul(out->tiles, BH);
    out->skipped = attn_mul(out->skipped, BH);
    out->flops_mm = attn_mul(out->flops_mm, BH);
    out->flops_ew = attn_mul(out->flops_ew, BH);
    out->exps = attn_mul(out->exps, BH);
    if (out->flops_mm > UINT64_MAX - out->flops_ew)
        fl_fatal("the closed-form ledger overflows 64 bits (N, B or H too large)");
}
