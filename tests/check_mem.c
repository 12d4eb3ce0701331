/* check_mem.c — the memory model counts exactly, enforces M, forks and joins, and traces. */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check_util.h"
#include "mem.h"
#include "rng.h"
#include "proc.h"
#include "trace.h"

/* A tiled copy of an N x d tensor through SRAM, rows by blocks of br, ragged last block included. */
static void tiled_copy(mem_t *m, hbm_tensor *src, hbm_tensor *dst, size_t N, size_t d, size_t br, dtype_t dt)
{
    float *t = sram_alloc(m, br * d, dt, "tile");
    for (size_t r0 = 0; r0 < N; r0 += br) {
        size_t rows = N - r0 < br ? N - r0 : br;
        hbm_load_rows(m, t, hbm_whole(src), r0, rows, "tile");
        hbm_store_rows(m, hbm_whole(dst), r0, rows, t, "tile");
    }
    sram_free(m, t);
}

START_TEST(counts_match_closed_form)
{
    static const size_t Ns[] = {1, 7, 16, 33, 100}, ds[] = {1, 3, 16, 80}, brs[] = {1, 4, 5, 32};
    for (int dt = 0; dt < 3; dt++)
        for (size_t a = 0; a < 5; a++)
            for (size_t b = 0; b < 4; b++)
                for (size_t c = 0; c < 4; c++) {
                    size_t N = Ns[a], d = ds[b], br = brs[c];
                    mem_t *m = mem_create(1 << 20, false);
                    hbm_tensor *X = hbm_alloc_mat(m, "X", (dtype_t)dt, N, d);
                    hbm_tensor *Y = hbm_alloc_mat(m, "Y", (dtype_t)dt, N, d);
                    tiled_copy(m, X, Y, N, d, br, (dtype_t)dt);
                    io_count x = mem_io(m, "X", NULL), y = mem_io(m, "Y", NULL), t = mem_io(m, NULL, NULL);
                    size_t sz = dtype_size((dtype_t)dt);
                    ck_assert_uint_eq(x.rd_elems, N * d);
                    ck_assert_uint_eq(x.wr_elems, 0);
                    ck_assert_uint_eq(y.wr_elems, N * d);
                    ck_assert_uint_eq(y.wr_bytes, N * d * sz);
                    ck_assert_uint_eq(t.rd_bytes, N * d * sz);
                    ck_assert_uint_eq(sram_peak(m), br * d * sz);
                    ck_assert_uint_eq(sram_used(m), 0);
                    ck_assert_uint_eq(mem_hbm_peak(m), 2 * N * d * sz);
                    mem_destroy(m);
                }
}
END_TEST

START_TEST(data_moves_and_rounds)
{
    rng_t r;
    rng_seed(&r, (uint64_t)_i + 7);
    size_t N = 13, d = 5;
    float *in = malloc(N * d * sizeof *in), *out = malloc(N * d * sizeof *out);
    rng_fill_normal(&r, in, N * d, 100.0f);
    mem_t *m = mem_create(4096, false);
    hbm_tensor *X = hbm_alloc_mat(m, "X", DTYPE_FP16, N, d), *Y = hbm_alloc_mat(m, "Y", DTYPE_FP32, N, d);
    hbm_upload(X, in);
    tiled_copy(m, X, Y, N, d, 4, DTYPE_FP16);
    hbm_download(Y, out);
    for (size_t i = 0; i < N * d; i++)
        ck_assert(out[i] == dtype_round(DTYPE_FP16, in[i]));   /* the fp16 store rounded; the copy is exact */
    mem_destroy(m);
    free(in);
    free(out);
}
END_TEST

START_TEST(heads_and_windows)
{
    /* (B, N, H, d) = (2, 5, 3, 4): head (1, 2) row 3 col 1 is element ((1*5 + 3)*3 + 2)*4 + 1. */
    size_t B = 2, N = 5, H = 3, d = 4, n = B * N * H * d;
    float *x = malloc(n * sizeof *x), tile[2 * 4];
    for (size_t i = 0; i < n; i++)
        x[i] = (float)i;
    mem_t *m = mem_create(1024, false);
    hbm_tensor *Q = hbm_alloc_bnhd(m, "Q", DTYPE_FP32, B, N, H, d);
    hbm_upload(Q, x);
    hbm_load_rows(m, tile, hbm_head(Q, 1, 2), 3, 2, "Qi");
    ck_assert(tile[1] == (float)(((1 * 5 + 3) * 3 + 2) * 4 + 1));
    ck_assert(tile[4 + 3] == (float)(((1 * 5 + 4) * 3 + 2) * 4 + 3));
    hbm_tensor *L = hbm_alloc_bhn(m, "L", DTYPE_FP32, B, H, N);
    hbm_mat l = hbm_head(L, 1, 1);
    ck_assert_uint_eq(l.off, (1 * 3 + 1) * 5);
    ck_assert_uint_eq(l.rows, N);
    ck_assert_uint_eq(l.cols, 1);
    ck_assert_uint_eq(mem_io(m, "Q", NULL).rd_elems, 2 * d);
    mem_destroy(m);
    free(x);
}
END_TEST

START_TEST(phases_split_the_ledger)
{
    mem_t *m = mem_create(1024, true);
    hbm_tensor *S = hbm_alloc_mat(m, "S", DTYPE_FP16, 8, 8);
    mem_phase(m, "write");
    hbm_fill_rows(m, hbm_whole(S), 0, 8, 0.0f, "S");
    mem_phase(m, "read");
    hbm_load_tile(m, NULL, hbm_whole(S), 2, 3, 1, 4, "Sij");
    mem_compute(m, "x", 10, 3);
    ck_assert_uint_eq(mem_io(m, "S", "write").wr_elems, 64);
    ck_assert_uint_eq(mem_io(m, "S", "read").rd_elems, 12);
    ck_assert_uint_eq(mem_io(m, "S", "read").rd_bytes, 24);
    ck_assert_uint_eq(mem_io(m, "S", "write").rd_elems, 0);
    ck_assert_uint_eq(mem_io(m, NULL, NULL).rd_elems, 12);
    ck_assert_uint_eq(mem_flops(m, "read"), 10);
    ck_assert_uint_eq(mem_exps(m, NULL), 3);
    ck_assert_uint_eq(mem_io(m, "nosuch", NULL).rd_elems, 0);
    ck_assert_uint_eq(mem_io(m, NULL, "nosuch").rd_elems, 0);
    mem_destroy(m);
}
END_TEST

START_TEST(count_only_allocates_nothing)
{
    /* A 65536 x 65536 fp32 S is 16 GiB: count-only mode must count it without storage. */
    mem_t *m = mem_create(1 << 16, true);
    hbm_tensor *S = hbm_alloc_bhnn(m, "S", DTYPE_FP32, 1, 1, 65536);
    hbm_fill_rows(m, hbm_head(S, 0, 0), 0, 65536, 0.0f, "S");
    ck_assert_uint_eq(mem_io(m, "S", NULL).wr_elems, (uint64_t)65536 * 65536);
    ck_assert_uint_eq(mem_hbm_peak(m), (uint64_t)65536 * 65536 * 4);
    hbm_free(m, S);
    ck_assert_uint_eq(mem_io(m, "S", NULL).wr_bytes, (uint64_t)65536 * 65536 * 4); /* counts outlive the tensor */
    mem_destroy(m);
}
END_TEST

START_TEST(fork_join_is_exact)
{
    mem_t *m = mem_create(256, true);
    hbm_tensor *X = hbm_alloc_mat(m, "X", DTYPE_BF16, 100, 3);
    mem_t *w[3];
    for (int k = 0; k < 3; k++) {
        w[k] = mem_fork(m);
        float *t = sram_alloc(w[k], (size_t)(k + 1) * 10, DTYPE_FP32, "t");
        hbm_load_rows(w[k], t, hbm_whole(X), (size_t)k, (size_t)(k + 1), "t");
        mem_compute(w[k], "x", 1, 2);
        sram_free(w[k], t);
    }
    for (int k = 2; k >= 0; k--)
        mem_join(m, w[k]);
    ck_assert_uint_eq(mem_io(m, "X", NULL).rd_elems, (1 + 2 + 3) * 3);
    ck_assert_uint_eq(mem_io(m, "X", NULL).rd_bytes, (1 + 2 + 3) * 3 * 2);
    ck_assert_uint_eq(mem_flops(m, NULL), 3);
    ck_assert_uint_eq(sram_peak(m), 30 * 4);   /* the largest worker's peak, not the sum */
    mem_destroy(m);
}
END_TEST

static void overfill_sram(void *unused)
{
    (void)unused;
    mem_t *m = mem_create(1000, false);
    sram_alloc(m, 200, DTYPE_FP32, "Kj");   /* 800 B */
    sram_alloc(m, 51, DTYPE_FP32, "Sij");   /* 204 B: 1004 > 1000 — must exit 2 */
}

START_TEST(sram_capacity_is_enforced)
{
    proc p = run_fn(overfill_sram, NULL);
    assert_one_error(&p, 2, "SRAM too small: tile 'Sij' needs 204 B");
    ck_assert_msg(strstr(p.err, "'Kj' 800 B") && strstr(p.err, "fit from M = 1004 bytes"), "%s", p.err);
    proc_free(&p);
}
END_TEST

START_TEST(sram_exactly_full_is_fine)
{
    mem_t *m = mem_create(1000, false);
    float *a = sram_alloc(m, 200, DTYPE_FP32, "Kj"), *b = sram_alloc(m, 100, DTYPE_FP16, "Vj");
    ck_assert_uint_eq(sram_used(m), 1000);
    sram_free(m, a);
    ck_assert_uint_eq(sram_used(m), 200);
    a = sram_alloc(m, 400, DTYPE_BF16, "Qi");
    ck_assert_uint_eq(sram_peak(m), 1000);
    sram_free(m, a);
    sram_free(m, b);
    mem_destroy(m);
}
END_TEST

static void load_outside(void *unused)
{
    (void)unused;
    mem_t *m = mem_create(1 << 12, false);
    hbm_tensor *X = hbm_alloc_mat(m, "X", DTYPE_FP32, 4, 4);
    float t[16];
    hbm_load_rows(m, t, hbm_whole(X), 2, 3, "Xi");   /* rows 2..4 of 4 */
}

START_TEST(load_outside_tensor_dies)   /* an algorithm's bug, not the user's input: exit 4 */
{
    proc p = run_fn(load_outside, NULL);
    assert_one_error(&p, 4, "internal error: load of X[2:5, 0:4] is outside its 4 x 4 head");
    proc_free(&p);
}
END_TEST

static void overflowing_tensor(void *unused)
{
    (void)unused;
    mem_t *m = mem_create(1 << 12, true);
    hbm_alloc_bnhd(m, "Q", DTYPE_FP32, (size_t)1 << 40, (size_t)1 << 20, 1, (size_t)1 << 10);
}

START_TEST(overflowing_tensor_dies)
{
    proc p = run_fn(overflowing_tensor, NULL);
    assert_one_error(&p, 2, "tensor 'Q' of 1099511627776 x 1048576 x 1 x 1024 elements overflows a 64-bit size");
    proc_free(&p);
}
END_TEST

/* Events reach observers in order, with the running totals they report. */
static void count_events(const mem_event *ev, void *ctx)
{
    int *n = ctx;
    n[ev->kind]++;
    if (ev->kind == MEM_EV_LOAD)
        ck_assert_uint_eq(mem_io(ev->mem, NULL, NULL).rd_elems, 4 * (uint64_t)n[ev->kind]);
}

START_TEST(observers_see_every_event)
{
    int n[16] = {0};
    mem_t *m = mem_create(1 << 12, false);
    mem_observe(m, count_events, n);
    hbm_tensor *X = hbm_alloc_mat(m, "X", DTYPE_FP32, 4, 2);
    float *t = sram_alloc(m, 4, DTYPE_FP32, "t");
    hbm_load_rows(m, t, hbm_whole(X), 0, 2, "t");
    hbm_load_rows(m, t, hbm_whole(X), 2, 2, "t");
    mem_step(m, 1, 2, "x");
    mem_note(m, "Alg.1 line %d", 8);
    sram_free(m, t);
    mem_unobserve(m, count_events, n);
    hbm_load_rows(m, NULL, hbm_whole(X), 0, 1, "t");
    ck_assert_int_eq(n[MEM_EV_LOAD], 2);
    ck_assert_int_eq(n[MEM_EV_ALLOC], 1);
    ck_assert_int_eq(n[MEM_EV_FREE], 1);
    ck_assert_int_eq(n[MEM_EV_STEP], 1);
    ck_assert_int_eq(n[MEM_EV_NOTE], 1);
    ck_assert_int_eq(n[MEM_EV_HBM_ALLOC], 1);
    mem_destroy(m);
}
END_TEST

/* Every trace format writes one record per event; JSON parses as an object with a traceEvents array. */
START_TEST(trace_formats)
{
    for (int f = TRACE_TEXT; f <= TRACE_JSON; f++) {
        char *buf = NULL;
        size_t len = 0;
        FILE *out = open_memstream(&buf, &len);
        mem_t *m = mem_create(1 << 12, false);
        trace_t *tr = trace_open(m, (trace_fmt)f, out);
        hbm_tensor *X = hbm_alloc_mat(m, "X", DTYPE_FP16, 4, 2);
        float *t = sram_alloc(m, 8, DTYPE_FP16, "Xi");
        hbm_load_rows(m, t, hbm_whole(X), 0, 4, "Xi");
        mem_compute(m, "note \"quoted\"", 16, 4);
        hbm_store_rows(m, hbm_whole(X), 0, 4, t, "Xi");
        sram_free(m, t);
        ck_assert_int_eq(trace_close(tr), 0);
        fclose(out);
        if (f == TRACE_TEXT) {
            ck_assert_ptr_nonnull(strstr(buf, "load  X[0:4, 0:2]"));
            ck_assert_ptr_nonnull(strstr(buf, "store X[0:4, 0:2]"));
        } else if (f == TRACE_CSV) {
            ck_assert_ptr_nonnull(strstr(buf, "seq,event,tensor"));
            ck_assert_ptr_nonnull(strstr(buf, ",load,\"X\",\"Xi\",0,0,0,4,0,2,8,16,"));
            ck_assert_ptr_nonnull(strstr(buf, "\"note \"\"quoted\"\"\""));
        } else {
            ck_assert_ptr_nonnull(strstr(buf, "\"traceEvents\":["));
            ck_assert_ptr_nonnull(strstr(buf, "\"name\":\"note \\\"quoted\\\"\""));
            ck_assert_ptr_nonnull(strstr(buf, "\n]}\n"));
        }
        mem_destroy(m);
        free(buf);
    }
}
END_TEST

Suite *mem_suite(void)
{
    Suite *s = suite_create("mem");
    TCASE(s, "Counting", 0, {counts_match_closed_form}, {data_moves_and_rounds, .loops = 3}, {heads_and_windows},
          {phases_split_the_ledger}, {count_only_allocates_nothing}, {fork_join_is_exact});
    TCASE(s, "Capacity", 0, {sram_capacity_is_enforced}, {sram_exactly_full_is_fine}, {load_outside_tensor_dies},
          {overflowing_tensor_dies});
    TCASE(s, "Trace", 0, {observers_see_every_event}, {trace_formats});
    return s;
}
