/* lesson11_decode.c — decoding: one new token per sequence against a KV cache of N tokens.
 *
 * What it teaches (Flash-Decoding, Dao et al. 2023; GQA, Ainslie et al. 2023; paged attention, Kwon et al. 2023):
 * with one query row the cost is reading K and V once. The G = Hq/Hkv query heads of a KV head go together, so the
 * cache is read once per KV head; split-KV cuts each pass into S parts so a GPU has enough work, and a second kernel
 * merges them with lesson02's (m, ℓ) merge; a paged cache finds its rows through a block table.
 * Algorithm (sim/model/decode.c): kernel 1 per (split, sequence, KV head): load Qg; per chunk of Bc rows: load Kj, Vj,
 *   Sij = Qg Kj^T, online softmax into Oi (FA2 lines 7-10); write Oi/li and Li. Kernel 2: merge the S partials.
 * Run:  ./lesson11  |  ./lesson11 --page-size 16  |  ./lesson11 -N 4096 -d 128 --heads 32 --kv-heads 8 --batch 1
 *       --splits 32 -M 227K --count-only   (GQA 8/2, 3 splits, 50 tokens; paged with a shared prefix; an anchor shape)
 * Summary: algo=decode, Hkv, splits, page_size, G, closed_form_ok, alone_kv_read_elems, flop_per_byte, max_abs_err.
 */
#include <math.h>
#include <stdlib.h>

#include "decode.h"      // defines: decode_run, decode_closed_form, decode_plan_splits, decode_cache_size
#include "decode_ref.h"  // defines: decode_verify
#include "lab.h"         // defines: lab_begin, lab_say, lab_watch, lab_guard_*, lab_sum_*, lab_end
#include "lessons.h"
#include "report.h"
#include "rng.h"
#include "util.h"

enum { OPT_KV_HEADS, OPT_SPLITS, OPT_PAGE_SIZE };
#define PAGE_DEFAULT 16    /* the page size of the memory table when --page-size is not given */
#define CONTEXT_FACTOR 4   /* a contiguous cache reserves the longest context: here 4·N tokens */

const cli_spec lesson11_spec = {
    .name = "lesson11",
    .title = "Decoding against a KV cache: grouped-query heads, split-KV, a paged cache",
    .details = "-N is the cache length, --heads the query heads Hq (a multiple of --kv-heads).",
    .defaults = {.N = 50, .d = 8, .B = 2, .H = 8, .M_bytes = 1024, .dtype = DTYPE_FP16, .seed = 11},
    .extra = CLI_OPT_THREADS | CLI_OPT_TRACE,
    .own = {{"kv-heads", "HKV", "KV heads Hkv, Hq a multiple of it (default 2; 1 for an odd Hq)", 1, 1u << 16},
            {"splits", "S", "split-KV: parts of the cache per KV head (default 3, at most N)", 1, 1u << 24},
            {"page-size", "P", "a paged cache of P rows a page (default: contiguous)", 1, 1u << 24}},
};

/* ---- inputs and one run on a fresh memory model: q (B, Hq, d), k and v (B, N, Hkv, d), as stored ------------- */
typedef struct { float *q, *k, *v; size_t *table, npages, shared_rows; } inputs;

/* Random q, k, v; paged: sequence 1 shares sequence 0's first half (whole pages), in the cache and in the table. */
static inputs make_inputs(const cli_cfg *cfg, const decode_params *p)
{
    inputs in = {0};
    size_t row = p->Hkv * p->d, n[3] = {p->B * p->Hq * p->d, p->B * p->N * row, p->B * p->N * row};
    if (p->page_size) {
        in.table = xmalloc(p->B * decode_pages_per_seq(p) * sizeof *in.table);
        in.npages = decode_table_shared(p, p->N / 2 / p->page_size, in.table);
        in.shared_rows = p->B >= 2 ? p->N / 2 / p->page_size * p->page_size : 0;
    }
    if (cfg->count_only)
        return in;
    rng_t r;
    rng_seed(&r, cfg->seed);
    float **all[] = {&in.q, &in.k, &in.v};
    for (int i = 0; i < 3; i++) {
        float *x = *all[i] = xmalloc(n[i] * sizeof *x);
        rng_fill_normal(&r, x, n[i], 1.0f);
        for (size_t j = 0; j < n[i]; j++)   /* sequence 1's shared prefix holds sequence 0's tokens */
            x[j] = i && j >= p->N * row && j - p->N * row < in.shared_rows * row ? x[j - p->N * row]
                                                                                : dtype_round(cfg->dtype, x[j]);
    }
    return in;
}

static mem_t *run(lab_t *L, bool count_only, const decode_params *p, const inputs *in, float *o)
{
    mem_t *m = mem_create(L->cfg->M_bytes, count_only);
    if (o)
        lab_watch(L, m);   /* the trace follows the lesson's own run, not the one beside it */
    decode_tensors t = decode_alloc(m, p, L->cfg->dtype, in->table, in->npages);
    decode_upload(&t, p, in->q, in->k, in->v);
    decode_run(m, p, &t);
    if (o)
        hbm_download(t.o, o);
    decode_free(m, &t);
    return m;
}

static uint64_t kv_reads(const mem_t *m) { return mem_io(m, "K", NULL).rd_elems + mem_io(m, "V", NULL).rd_elems; }
static double flop_per_byte(const mem_t *m)
{ return (double)mem_flops(m, NULL) / (double)(mem_io(m, NULL, NULL).rd_bytes + mem_io(m, NULL, NULL).wr_bytes); }

/* ---- the tour ------------------------------------------------------------------------------------------------- */
/* Part 2: every tensor's counted reads and writes against decode.h's closed form. */
static bool ledger_part(const lab_t *L, const decode_params *p, const mem_t *m)
{
    decode_io cf;
    decode_closed_form(p, &cf);
    bool ok = true, say = L->show;
    lab_say(L, "The ledger, counted, against the closed form (decode.h), in elements:\n");
    for (size_t i = 0; i < cf.n; i++) {
        io_count c = mem_io(m, cf.row[i].tensor, NULL);
        char what[2][48];
        snprintf(what[0], 48, "%s read", cf.row[i].tensor), snprintf(what[1], 48, "%s written", cf.row[i].tensor);
        ok &= report_check(say && (c.rd_elems || cf.row[i].rd), 18, what[0], cf.row[i].rd_how, cf.row[i].rd, c.rd_elems);
        ok &= report_check(say && (c.wr_elems || cf.row[i].wr), 18, what[1], cf.row[i].wr_how, cf.row[i].wr, c.wr_elems);
    }
    ok &= report_check(say, 18, "FLOPs", "4·B·Hq·N·d + the rest", cf.flops, mem_flops(m, NULL));
    ok &= report_check(say, 18, "exps", "B·Hq·(N + chunks) + merge", cf.exps, mem_exps(m, NULL));
    return ok && mem_io(m, NULL, NULL).rd_elems == cf.rd && mem_io(m, NULL, NULL).wr_elems == cf.wr;
}

/* Part 3: the roofline's verdict, and how many splits a GPU wants. */
static void roofline_part(const lab_t *L, const decode_params *p, const mem_t *m, const mem_t *alone)
{
    double fpb = flop_per_byte(m);
    lab_say(L, "\nEach query head alone (a pass of its own over its KV head) reads K+V %llu elements, 2·B·Hq·N·d; "
            "grouped\n%llu, 2·B·Hkv·N·d: %.3g times fewer. FLOPs per byte: %.3g grouped, %.3g alone (about G and 1 in "
            "fp16:\n4·Hq·N·d FLOPs over 2·Hkv·N·d·2 bytes). The roofline's ridge, peak FLOP/s over HBM bytes/s:\n",
            (unsigned long long)kv_reads(alone), (unsigned long long)kv_reads(m),
            (double)kv_reads(alone) / (double)kv_reads(m), fpb, flop_per_byte(alone));
    for (const decode_gpu *g = decode_gpus; g < decode_gpus + decode_ngpus; g++)
        lab_say(L, "  %-14s %4.0f TFLOP/s %5.3g TB/s  ridge %4.0f FLOP/B: decode reaches %4.1f%% of peak FLOP/s at "
                "most\n", g->name, g->tflops, g->tbps, g->tflops / g->tbps, 100 * fpb * g->tbps / g->tflops);
    lab_say(L, "  (%s; the A100's from its data sheet)\nMemory-bound by far: the time is bytes / bandwidth, so a "
            "decode kernel is judged in TB/s.\n\nHow many splits: S = ⌊%d·SMs / (B·Hkv)⌋, no split under %d rows "
            "(one wave of pieces; the rule of the\nCUDA kernel's fl_decode_plan, measured on an H100):\n",
            decode_gpus[2].source, DECODE_WAVES, DECODE_MIN_SPLIT_ROWS);
    size_t sh[][3] = {{p->B, p->Hkv, p->N}, {1, 8, 4096}, {16, 8, 131072}, {1, 32, 131072}};   /* B, Hkv, N */
    for (size_t i = 0, *x = sh[0]; i < 4; x = sh[++i % 4]) {
        size_t sa = decode_plan_splits(108, x[0], x[1], x[2]), sh100 = decode_plan_splits(132, x[0], x[1], x[2]);
        lab_say(L, "  B=%-3zu Hkv=%-3zu N=%-7zu B·Hkv=%-4zu A100 S=%-5zu H100/H200 S=%zu%s\n", x[0], x[1], x[2],
                x[0] * x[1], sa, sh100, i ? "" : "   (this run's shape)");
    }
    io_count o = mem_io(m, "O_split", NULL), l = mem_io(m, "L_split", NULL);
    lab_say(L, "  The price of S splits: the partials, S·B·Hq·(d+1), written and read again (%llu elements here "
            "beside\n  K+V's %llu), and q read S times.\n", (unsigned long long)(o.rd_elems + o.wr_elems + l.rd_elems +
            l.wr_elems), (unsigned long long)kv_reads(m));
}

/* Part 4: what a paged cache saves in memory, and what its table costs in reads. */
static void paging_part(const lab_t *L, const decode_params *p, const inputs *in, const mem_t *m)
{
    char b[4][32];
    size_t P = p->page_size ? p->page_size : PAGE_DEFAULT, sh = in->shared_rows ? in->shared_rows : p->N / 2;
    decode_cache_bytes c = decode_cache_size(p->B, p->N, CONTEXT_FACTOR * p->N, P, sh, p->Hkv, p->d, L->cfg->dtype);
    lab_say(L, "\nCache memory (K and V) of these B = %zu sequences of N = %zu tokens: used %s; contiguous, reserving "
            "%d·N\ntokens a sequence, %s; paged, P = %zu, %s (each last page partly empty); paged with sequences 0 and "
            "1\nsharing their first %zu tokens, %s.\n%s", p->B, p->N, fmt_bytes(c.used, b[0], 32), CONTEXT_FACTOR,
            fmt_bytes(c.contiguous, b[1], 32), P, fmt_bytes(c.paged, b[2], 32), sh, fmt_bytes(c.paged_shared, b[3], 32),
            p->page_size ? "" : "Try --page-size 16 to run it paged.\n");
    if (p->page_size)
        lab_say(L, "The block table is read once per page a split touches: %llu entries. A shared page is still read "
                "by each\nsequence: sharing saves memory, not bandwidth.\n",
                (unsigned long long)mem_io(m, "block_table", NULL).rd_elems);
}

int lesson11_run(const cli_cfg *cfg)
{
    lab_t L = lab_begin(cfg);
    decode_params p = {.B = cfg->B, .N = cfg->N, .Hq = cfg->H, .d = cfg->d, .grouped = true, .threads = cfg->threads,
                       .Hkv = cfg->own[OPT_KV_HEADS] ? cfg->own[OPT_KV_HEADS] : cfg->H % 2 ? 1 : 2,
                       .splits = cfg->own[OPT_SPLITS] ? cfg->own[OPT_SPLITS] : min_size(3, cfg->N),
                       .page_size = cfg->own[OPT_PAGE_SIZE]};
    char err[256];
    if (decode_choose_block(&p, cfg->M_bytes, cfg->dtype, cfg->Bc, err, sizeof err))
        fl_fatal("%s", err);
    size_t G = decode_group(&p), S = p.splits;
    lab_guard_tiles(2 * p.B * p.Hq * (p.N / p.Bc + S), "lesson11");            /* chunks: grouped and alone */
    lab_guard_flops(cfg, 8.0 * (double)(p.B * p.Hq * p.N * p.d), "lesson11");  /* the run and the fp64 reference */
    lab_guard_elems(cfg, p.B * p.N, p.Hkv * p.d, "the KV cache");
    inputs in = make_inputs(cfg, &p);
    float *o = in.q ? xmalloc(p.B * p.Hq * p.d * sizeof *o) : NULL;
    /* Part 1: the shape, the two kernels, and the run. */
    lab_say(&L, "lesson11 — %s\n\nB = %zu sequences decode one token each: Hq = %zu query heads of d = %zu, a cache of "
            "N = %zu tokens\nof Hkv = %zu KV heads (%s): G = %zu query heads share a KV head (%s). Kernel 1: B·Hkv·S = "
            "%zu pieces of work\nstream their splits of the cache past their G query rows (Qg) in chunks of Bc = %zu "
            "rows. Splits:", lesson11_spec.title, p.B, p.Hq, p.d, p.N, p.Hkv, dtype_name(cfg->dtype), G,
            G == 1 ? "MHA" : p.Hkv == 1 ? "MQA" : "GQA", p.B * p.Hkv * S, p.Bc);
    for (size_t s = 0; s < S && s < 8; s++)
        lab_say(&L, " [%zu, %zu)", decode_split_start(&p, s), decode_split_start(&p, s + 1));
    lab_say(&L, "%s\n%s\n\n", S > 8 ? " ..." : "", S > 1 ? "Kernel 2: per (sequence, KV head), the S partials (O_s, "
            "L_s) merged as in lesson02: m = max, l = sum of e^(L_s - m)." : "One split: kernel 1 writes o itself.");
    mem_t *m = run(&L, cfg->count_only, &p, &in, o);
    bool ok = ledger_part(&L, &p, m), close = true;
    /* Beside it: each query head alone reads its KV head alone (count-only: only the counts differ). */
    decode_params a = p;   /* the same chunks: one query row needs less SRAM than G */
    a.grouped = false;
    mem_t *ma = run(&L, true, &a, &(inputs){.table = in.table, .npages = in.npages}, NULL);
    roofline_part(&L, &p, m, ma);
    paging_part(&L, &p, &in, m);
    double e = in.q ? decode_verify(&p, cfg->dtype, in.q, in.k, in.v, o, false, L.say ? stdout : NULL, &close) : NAN;
    lab_say(&L, "\nclosed form: counted %s; o against fp64: %s\n", ok ? "equal" : "DIFFERENT",
            !in.q ? "not computed (--count-only)" : close ? "within tolerance" : "OUT OF TOLERANCE");
    summary_t s;
    summary_begin(&s, cfg, "decode", G, p.Bc);
    summary_ledger(&s, m);
    lab_sum_f64(&s, "max_abs_err", in.q != NULL, e);
    lab_sum_kv(&s, {"Hkv", p.Hkv}, {"splits", S}, {"page_size", p.page_size}, {"G", G}, {"closed_form_ok", ok},
               {"alone_kv_read_elems", kv_reads(ma)});
    summary_f64(&s, "flop_per_byte", flop_per_byte(m));
    summary_print(&s, stdout);
    mem_destroy(ma), mem_destroy(m);
    free(in.q), free(in.k), free(in.v), free(in.table), free(o);
    return lab_end(&L, ok && close);
}

LESSON_MAIN(lesson11_spec, lesson11_run)
