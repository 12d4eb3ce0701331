/* check_hw02.c — grades hw02_flash1_forward: FlashAttention's tiling (Algorithm 1) on the memory model.
 * Correct O on ragged shapes, d not a power of two, several heads and large logits; HBM traffic within the paper's
 * ledger; SRAM exactly the algorithm's plan (a larger tile stops the program: sram_alloc). */
#include "hw_check.h"

const char homework_name[] = "hw02";
const char homework_title[] = "FlashAttention's tiling (Algorithm 1) on the memory model";

const char *const homework_allowed[] = {HW_ALLOW_MEMORY_MODEL, "attn_sram_plan", "attn_sram_need",
                                        "attn_io_closed_form", "attn_algo_name", NULL};

/* N, d ragged against the blocks; Br != Bc; a block as large as N; one row; one column. */
static const hw_case SHAPES[] = {
    {1, 1, 1, 1, 1, 1, false, 1, 0},    {1, 7, 1, 3, 2, 3, false, 1, 0},   {1, 16, 1, 16, 4, 8, false, 1, 0},
    {1, 33, 1, 5, 8, 4, false, 1, 0},   {1, 100, 1, 80, 16, 32, false, 1, 0}, {1, 129, 1, 64, 32, 64, false, 1, 0},
    {1, 50, 1, 7, 50, 50, false, 1, 0}, {1, 257, 1, 3, 5, 17, false, 1, 0},
};
#define NSHAPES (sizeof SHAPES / sizeof SHAPES[0])

static void check_output(const hw_case *c, uint64_t seed)
{
    hw_attn_check(c, ATTN_FLASH1, hw02_flash1_forward, seed, hw_output_ok, NULL);
}

START_TEST(correct_on_shapes)
{
    check_output(&SHAPES[_i], 100 + (uint64_t)_i);
}
END_TEST

START_TEST(correct_with_heads)
{
    static const hw_case c = {2, 19, 3, 8, 4, 5, false, 1, 0};
    check_output(&c, 7);
}
END_TEST

START_TEST(correct_with_large_logits)
{
    static const hw_case c = {1, 70, 1, 16, 8, 16, false, 30, 0};   /* logits in the thousands: e^s overflows */
    check_output(&c, 8);
}
END_TEST

#define U(x) ((unsigned long long)(x))

/* Which loop a tensor's extra reads come from: its count against one load per (i, j) tile or per outer step. */
static bool traffic_ok(const hw_run *r, char *msg, size_t len)
{
    const hw_case *c = &r->c;
    const char *cs = r->cs;
    uint64_t Nd = (uint64_t)c->B * c->H * c->N * c->d, Tr = (c->N + c->Br - 1) / c->Br;
    attn_io_row Q = hw_cf(&r->cf, "Q"), K = hw_cf(&r->cf, "K"), O = hw_cf(&r->cf, "O"), M = hw_cf(&r->cf, "m"),
                L = hw_cf(&r->cf, "l");
    if (r->q_io.rd_elems < Nd || r->k_io.rd_elems < Nd || r->v_io.rd_elems < Nd)
        snprintf(msg, len, "%s: every element of Q, K and V must be loaded from HBM at least once (loaded: Q %llu, "
                 "K %llu, V %llu of %llu each) — hbm_load_rows(m, Qi, hbm_head(t->q, b, h), row0, rows, \"Qi\")", cs,
                 U(r->q_io.rd_elems), U(r->k_io.rd_elems), U(r->v_io.rd_elems), U(Nd));
    else if (r->o_io.wr_elems < Nd)
        snprintf(msg, len, "%s: O was written %llu elements, fewer than its %llu: store Oi with hbm_store_rows "
                 "(Alg.1 line 12)", cs, U(r->o_io.wr_elems), U(Nd));
    else if (r->k_io.rd_elems > K.rd || r->v_io.rd_elems > K.rd)
        snprintf(msg, len, "%s: K read %llu and V read %llu elements; Algorithm 1 reads each once (%llu). %s", cs,
                 U(r->k_io.rd_elems), U(r->v_io.rd_elems), U(K.rd),
                 Tr > 1 && r->k_io.rd_elems == Tr * Nd
                     ? "That is once per (i, j) tile: Kj, Vj are loaded inside the inner loop. Load them once per "
                       "outer step j (line 6), before the loop over i."
                     : "Load each Kj, Vj once per outer step j (line 6).");
    else if (r->q_io.rd_elems > Q.rd)
        snprintf(msg, len, "%s: Q read %llu elements, more than Algorithm 1's %llu (Qi once per (i, j) tile, line 8): "
                 "is Qi loaded again inside the tile's arithmetic?", cs, U(r->q_io.rd_elems), U(Q.rd));
    else if (r->o_io.rd_elems > O.rd || r->m1_io.rd_elems > M.rd || r->l1_io.rd_elems > L.rd)
        snprintf(msg, len, "%s: read O %llu, m %llu, l %llu elements; Algorithm 1 reads %llu, %llu, %llu: Oi, li, mi "
                 "once per (i, j) tile (line 8)", cs, U(r->o_io.rd_elems), U(r->m1_io.rd_elems),
                 U(r->l1_io.rd_elems), U(O.rd), U(M.rd), U(L.rd));
    else if (r->o_io.wr_elems > O.wr || r->m1_io.wr_elems > M.wr || r->l1_io.wr_elems > L.wr)
        snprintf(msg, len, "%s: wrote O %llu, m %llu, l %llu elements; Algorithm 1 writes %llu, %llu, %llu: once at "
                 "line 2 (O = 0, l = 0, m = -inf), then Oi, li, mi once per (i, j) tile (lines 12-13)", cs,
                 U(r->o_io.wr_elems), U(r->m1_io.wr_elems), U(r->l1_io.wr_elems), U(O.wr), U(M.wr), U(L.wr));
    else if (r->io.rd_elems > r->cf.rd || r->io.wr_elems > r->cf.wr)
        snprintf(msg, len, "%s: %llu elements read and %llu written, Algorithm 1 moves at most %llu and %llu: only Q, "
                 "K, V, O, l and m cross to HBM", cs, U(r->io.rd_elems), U(r->io.wr_elems), U(r->cf.rd),
                 U(r->cf.wr));
    else
        return true;
    return false;
}

/* The ledger: every input read at least once, O written, and no more traffic than Algorithm 1's closed form. */
START_TEST(hbm_traffic_within_algorithm_1)
{
    hw_attn_check(&SHAPES[_i], ATTN_FLASH1, hw02_flash1_forward, 200 + (uint64_t)_i, traffic_ok, NULL);
}
END_TEST

HW_TESTS(
    {"correct_on_shapes", correct_on_shapes, (int)NSHAPES},
    {"correct_with_heads", correct_with_heads, 1},
    {"correct_with_large_logits", correct_with_large_logits, 1},
    {"hbm_traffic_within_alg1", hbm_traffic_within_algorithm_1, (int)NSHAPES}
)
