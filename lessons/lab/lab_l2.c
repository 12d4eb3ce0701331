/* lab_l2.c — the L2 model in the lessons (see include/lab/lab_l2.h). */
#include "lab_l2.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "exitcode.h"
#include "lab_table.h"   // defines: lab_table, lab_table_head, lab_table_pair
#include "summary.h"     // defines: summary_t, summary_begin, summary_u64, summary_f64, summary_str
#include "util.h"

#define MB 1e6

/* The tables cuda/tools/ncu.sh recorded, one forward pass per row, fp32, caches flushed before every kernel: the
 * tables the model was fitted to (copies of ../shared/anchors; d = 64, B = 1, H = 16), then shapes measured after it
 * was, to see how it predicts what it was not fitted to (other = true). */
static const struct {
    const char *gpu, *path;
    bool other;
} TABLES[] = {
    {"H100", "plots/data/ncu_NVIDIA_H100_2026-12-06.dat", false},
    {"H200", "plots/data/ncu_NVIDIA_H200_2026-11-22.dat", false},
    {"H100", "plots/data/ncu_NVIDIA_H100_80GB_HBM3_2026-12-06_d128_B1_H8.dat", true},
};

/* The rows the model misses (docs/l2.md, "Where the model misses"), by table shape d, H and row N. */
#define WHY_DRAIN \
    "compute-bound: the GPU writes dirty O back while DRAM idles, the model only on eviction (low, never high)"
#define WHY_EDGE "Q and O of 16 heads cycle on the edge of the 50 MiB L2: a few MB of capacity swing the misses by half"
#define WHY_KV_EDGE \
    "K, V of the 2-3 resident heads, in both partitions, fill the 50 MiB L2 to its edge: with 60 MiB the model is +4%"
static const lab_l2_miss MISSES[] = {
    {"H100", "v02_flash1", 64, 16, 2048, false, 0.0, 0.1, WHY_DRAIN},
    {"H100", "v03_flash2", 64, 16, 2048, false, 0.0, 0.1, WHY_DRAIN},
    {"H100", "v02_flash1", 64, 16, 4096, true, 1.0, 1.25, WHY_EDGE},
    {"H100", "v02_flash1", 64, 16, 4096, false, 0.7, 0.9, WHY_DRAIN},
    {"H100", "v03_flash2", 64, 16, 4096, false, 0.6, 0.85, WHY_DRAIN},
    {"H200", "v02_flash1", 64, 16, 2048, false, 0.0, 0.1, WHY_DRAIN},
    {"H200", "v03_flash2", 64, 16, 2048, false, 0.0, 0.1, WHY_DRAIN},
    {"H200", "v02_flash1", 64, 16, 4096, false, 0.3, 0.6, WHY_DRAIN},
    {"H200", "v03_flash2", 64, 16, 4096, false, 0.5, 0.8, WHY_DRAIN},
    /* d = 128, H = 8, measured after the model was fitted: the prediction was committed before the run */
    {"H100", "v02_flash1", 128, 8, 2048, false, 0.0, 0.1, WHY_DRAIN},
    {"H100", "v03_flash2", 128, 8, 2048, false, 0.0, 0.1, WHY_DRAIN},
    {"H100", "v03_flash2", 128, 8, 8192, true, 1.0, 1.25, WHY_KV_EDGE},
};

static bool same_name(const char *a, const char *b)   /* ASCII, case-insensitive */
{
    for (; *a && tolower((unsigned char)*a) == tolower((unsigned char)*b); a++, b++)
        ;
    return tolower((unsigned char)*a) == tolower((unsigned char)*b);
}

const lab_l2_miss *lab_l2_known_miss(const char *gpu, const char *kernel, size_t d, size_t H, size_t N, bool rd)
{
    for (size_t x = 0; x < sizeof MISSES / sizeof MISSES[0]; x++)
        if (same_name(MISSES[x].gpu, gpu) && !strcmp(MISSES[x].kernel, kernel) && MISSES[x].d == d &&
            MISSES[x].H == H && MISSES[x].N == N && MISSES[x].rd == rd)
            return &MISSES[x];
    return NULL;
}

/* The i-th table of gpu among the fitted (other false) or the others. */
static const char *table(const char *gpu, bool other, size_t i)
{
    for (size_t k = 0; gpu && k < sizeof TABLES / sizeof TABLES[0]; k++)
        if (same_name(TABLES[k].gpu, gpu) && TABLES[k].other == other && i-- == 0)
            return TABLES[k].path;
    return NULL;
}

const char *lab_l2_table(const char *gpu) { return table(gpu, false, 0); }
const char *lab_l2_table_other(const char *gpu, size_t i) { return table(gpu, true, i); }

const char *lab_l2_gpu_of(const char *device)
{
    for (size_t i = 0; device && i < sizeof TABLES / sizeof TABLES[0]; i++)
        if (strstr(device, TABLES[i].gpu))
            return TABLES[i].gpu;
    return NULL;
}

static l2_config config(const char *gpu)
{
    l2_config c;
    char err[256];
    if (l2_config_parse(gpu, &c, err, sizeof err))
        fl_fatal("%s", err);
    return c;
}

/* ---- beside a lesson's ledger ---------------------------------------------------------------------------------- */

/* What one run's forward pass asks of HBM and what the L2 would pass on to DRAM, per tensor of the run's model. */
typedef struct {
    bool fits;                       /* every kernel's block fits the GPU's shared memory (else: one per SM) */
    size_t n;
    const char *name[MEM_MAX_TENSORS];   /* mem_tensor_name(r->m, i) */
    l2_count io[MEM_MAX_TENSORS];
    l2_count all;
} replayed;

/* r's forward pass again, count-only, through c's L2, on one thread (the L2 observes one model). Its requests must
 * be r's ledger. */
static replayed replay(const l2_config *c, const lab_attn *r)
{
    replayed out = {.fits = true, .n = mem_ntensors(r->m)};
    attn_params p = r->p;
    p.threads = 1;
    l2_kernel k[L2_MAX_KERNELS];
    int nk = l2_attn_kernels(&p, k);
    for (int x = 0; x < nk; x++)   /* a block bigger than the GPU allows: one per SM, as the largest that fits */
        if (k[x].smem > c->smem_optin)
            k[x].smem = c->smem_optin, out.fits = false;
    l2_config cs = *c;
    cs.sample = l2_sample_for(&p);
    mem_t *m = mem_create(r->cfg.M_bytes, true);
    l2_t *l2 = l2_create(&cs);
    l2_attach(l2, m, k, nk);
    attn_tensors t = attn_alloc(m, &p, r->cfg.dtype, false);
    attn_forward(m, &p, &t);
    for (size_t i = 0; i < out.n; i++) {
        io_count led = mem_io(r->m, out.name[i] = mem_tensor_name(r->m, i), NULL);
        out.io[i] = l2_io(l2, out.name[i], NULL);
        if (led.rd_bytes != out.io[i].req_rd || led.wr_bytes != out.io[i].req_wr)
            fl_internal("%s: the L2 saw %llu bytes read and %llu written where the ledger counted %llu and %llu",
                        out.name[i], (unsigned long long)out.io[i].req_rd, (unsigned long long)out.io[i].req_wr,
                        (unsigned long long)led.rd_bytes, (unsigned long long)led.wr_bytes);
    }
    out.all = l2_io(l2, NULL, NULL);
    l2_destroy(l2);
    attn_free(m, &t);
    mem_destroy(m);
    return out;
}

static l2_count tensor_io(const replayed *rp, const char *name)
{
    for (size_t i = 0; i < rp->n; i++)
        if (!strcmp(rp->name[i], name))
            return rp->io[i];
    return (l2_count){0, 0, 0, 0};
}

void lab_l2_show(const lab_t *L, const lab_attn *const *runs, size_t n)
{
    const cli_cfg *cfg = L->cfg;
    if (!cfg->l2 || !L->show)
        return;
    l2_config c = config(cfg->l2);
    char b[6][32];
    printf("With an L2 (--l2 %s: %s in %u partitions, %u SMs), the DRAM bytes predicted for the ledger above: each\n"
           "pass replayed as the CUDA teaching kernels' grids issue it (docs/l2.md), each kernel starting on an empty L2.\n",
           c.name, fmt_bytes(c.bytes, b[0], 32), c.parts, c.sms);
    lab_table t = {.indent = "    ", .label_w = 8, .cell_w = 11, .first = " ", .sep = " | "};
    const char *heads[8], *pairs[16], *names[4 * MEM_MAX_TENSORS];
    char hb[8][40];
    size_t nnames = 0;
    n = n < 4 ? n : 4;   /* four runs side by side at most */
    replayed *rp = xcalloc(n, sizeof *rp);
    bool fits = true;
    for (size_t r = 0; r < n; r++) {
        rp[r] = replay(&c, runs[r]);
        fits &= rp[r].fits;
        for (size_t i = 0; i < rp[r].n; i++) {   /* every tensor of any run, in order of appearance */
            size_t k = 0;
            while (k < nnames && strcmp(names[k], rp[r].name[i]))
                k++;
            if (k == nnames)
                names[nnames++] = rp[r].name[i];
        }
        snprintf(hb[2 * r], 40, "%s reads", attn_algo_name(runs[r]->p.algo));
        snprintf(hb[2 * r + 1], 40, "%s writes", attn_algo_name(runs[r]->p.algo));
        heads[2 * r] = hb[2 * r], heads[2 * r + 1] = hb[2 * r + 1];
        pairs[4 * r] = pairs[4 * r + 2] = "ledger", pairs[4 * r + 1] = pairs[4 * r + 3] = "DRAM";
    }
    if (!fits)
        printf("  (blocks of M = %zu bytes, as fp32 kernels, need more shared memory than an %s block may have, %s: "
               "scheduled one per SM)\n", cfg->M_bytes, c.name, fmt_bytes(c.smem_optin, b[0], 32));
    lab_table_head(&t, "", heads, 2 * n);
    lab_table_pair(&t, "tensor", pairs, 2 * n, NULL);
    for (size_t i = 0; i < nnames; i++) {
        const char *cells[16];
        char cb[16][32];
        bool moved = false;
        for (size_t r = 0; r < n; r++) {
            l2_count x = tensor_io(&rp[r], names[i]);
            uint64_t v[4] = {x.req_rd, x.dram_rd, x.req_wr, x.dram_wr};
            for (int k = 0; k < 4; k++)
                cells[4 * r + k] = fmt_bytes(v[k], cb[4 * r + k], 32);
            moved |= x.req_rd || x.req_wr;
        }
        if (moved)
            lab_table_pair(&t, names[i], cells, 2 * n, NULL);
    }
    for (size_t r = 0; r < n; r++) {
        const l2_count *x = &rp[r].all;
        printf("  %s: DRAM reads %s of the %s requested (%.0f%%), DRAM writes %s of %s (%.0f%%)\n",
               attn_algo_name(runs[r]->p.algo), fmt_bytes(x->dram_rd, b[0], 32), fmt_bytes(x->req_rd, b[1], 32),
               x->req_rd ? 100.0 * (double)x->dram_rd / (double)x->req_rd : 0.0, fmt_bytes(x->dram_wr, b[2], 32),
               fmt_bytes(x->req_wr, b[3], 32), x->req_wr ? 100.0 * (double)x->dram_wr / (double)x->req_wr : 0.0);
    }
    printf("  Why: a re-read whose line is still in L2 never reaches DRAM, and a write stays in L2 until it is evicted\n"
           "  (what is there when a kernel ends is not written yet); DRAM moves whole %d-byte sectors.\n\n",
           L2_SECTOR_BYTES);
    free(rp);
}

void lab_l2_sweep(const lab_t *L, const size_t *Ns, size_t nN)
{
    const cli_cfg *cfg = L->cfg;
    if (!cfg->l2 || !L->show)
        return;
    static const attn_algo algos[] = {ATTN_STANDARD, ATTN_FLASH1, ATTN_FLASH2};
    l2_config c = config(cfg->l2);
    char b[4][32];
    bool fits = true;
    printf("\n6. With an L2 (--l2 %s, %s): HBM bytes read + written, the ledger's and what DRAM would see (the teaching\n"
           "   kernels' grids on %u SMs, each kernel on an empty L2; B = %zu, H = %zu):\n%8s", c.name,
           fmt_bytes(c.bytes, b[0], 32), c.sms, cfg->B, cfg->H, "N");
    for (size_t a = 0; a < 3; a++)
        printf("  %11s %11s %6s", attn_algo_name(algos[a]), "DRAM", "ratio");
    printf("\n");
    for (size_t k = 0; k < nN; k++) {
        printf("%8zu", Ns[k]);
        for (size_t a = 0; a < 3; a++) {
            cli_cfg at = *cfg;
            at.N = Ns[k], at.count_only = true;
            lab_attn r = lab_attn_plan(&at, algos[a], false, NULL);
            lab_attn_go(NULL, &r, NULL);
            replayed rp = replay(&c, &r);
            fits &= rp.fits;
            uint64_t led = rp.all.req_rd + rp.all.req_wr, dram = rp.all.dram_rd + rp.all.dram_wr;
            printf("  %11s %11s %6.3f", fmt_bytes(led, b[0], 32), fmt_bytes(dram, b[1], 32),
                   led ? (double)dram / (double)led : 0.0);
            lab_attn_free(&r);
        }
        printf("\n");
        fflush(stdout);
    }
    if (!fits)
        printf("   (some blocks, as fp32 kernels, need more shared memory than an %s block may have: one per SM)\n",
               c.name);
    printf("   The ledger grows as Theorem 2 says; DRAM sees the re-reads only once the working set of the blocks in\n"
           "   flight outgrows the L2: standard's N x N scores do, flash's Q, K, V, O (4·N·d elements a head) rarely.\n");
}

/* ---- every teaching kernel against the recorded tables --------------------------------------------------------- */

static void pct(char *buf, size_t len, uint64_t pred, uint64_t meas, bool measured)
{
    if (!measured || !meas)
        snprintf(buf, len, "na");
    else
        snprintf(buf, len, "%+.1f%%", 100 * l2_rel_err(pred, meas));
}

/* The verdict on one direction of a measured row; *miss gets a listed miss that explains it. */
static int judge(const char *gpu, const char *kernel, const attn_params *p, bool rd, uint64_t pred, uint64_t meas,
                 lab_l2_tally *t, const lab_l2_miss **miss)
{
    bool within = l2_within(pred, meas, L2_NCU_TOL, rd ? 0 : L2_NCU_WR_SLACK);
    const lab_l2_miss *km = lab_l2_known_miss(gpu, kernel, p->d, p->H, p->N, rd);
    double ratio = meas ? (double)pred / (double)meas : (pred ? INFINITY : 1.0);
    *miss = NULL;
    if (within) {
        t->stale += km != NULL;
        return km ? 's' : 'o';
    }
    if (km && ratio >= km->lo && ratio <= km->hi) {
        t->known++;
        *miss = km;
        return 'k';
    }
    t->unexplained++;
    return 'u';
}

static void header(FILE *out, const l2_config *c, const char *what)
{
    char b[32];
    fprintf(out, "L2 model: %s, %s of L2 in %u partitions, %u ways, at most %.0f%% dirty; %u SMs; %s\n", c->name,
            fmt_bytes(c->bytes, b, sizeof b), c->parts, c->ways, 100 * c->dirty_fraction, c->sms, what);
    fprintf(out, "%6s %-9s %-12s %4s %4s %7s %8s | %9s %9s | %9s %9s | %9s %9s | %7s %7s  %s\n", "N", "algo", "kernel",
            "Br", "Bc", "blocks", "resident", "ledger rd", "wr (MB)", "pred rd", "wr", "meas rd", "wr", "err rd", "wr",
            "verdict");
}

/* One kernel row: printed, tallied, and written to dat. meas NULL: nothing measured. */
static void row(FILE *out, const l2_config *c, const l2_kernel_result *k, const attn_params *p,
                const l2_ncu_row *meas, lab_l2_tally *t, FILE *dat, const lab_l2_miss **why, size_t *nwhy)
{
    char er[16], ew[16], mr[16] = "na", mw[16] = "na", verdict[64] = "";
    pct(er, sizeof er, k->io.dram_rd, meas ? meas->dram_rd : 0, meas != NULL);
    pct(ew, sizeof ew, k->io.dram_wr, meas ? meas->dram_wr : 0, meas != NULL);
    t->rows++;
    t->N_max = p->N > t->N_max ? p->N : t->N_max;
    t->ledger_rd += k->io.req_rd, t->ledger_wr += k->io.req_wr;
    t->pred_rd += k->io.dram_rd, t->pred_wr += k->io.dram_wr;
    if (meas) {
        t->meas_rd += meas->dram_rd, t->meas_wr += meas->dram_wr;
        const lab_l2_miss *mrd, *mwr;
        int vr = judge(c->name, k->name, p, true, k->io.dram_rd, meas->dram_rd, t, &mrd);
        int vw = judge(c->name, k->name, p, false, k->io.dram_wr, meas->dram_wr, t, &mwr);
        snprintf(mr, sizeof mr, "%.1f", meas->dram_rd / MB);
        snprintf(mw, sizeof mw, "%.1f", meas->dram_wr / MB);
        static const char *const word[128] = {['o'] = "ok", ['s'] = "ok, listed as a miss (stale)",
                                              ['k'] = "known miss", ['u'] = "MISS, unexplained"};
        if (vr == 'o' && vw == 'o')
            snprintf(verdict, sizeof verdict, "ok");
        else if (vr == vw)
            snprintf(verdict, sizeof verdict, "%s rd wr", word[vr]);
        else
            snprintf(verdict, sizeof verdict, "rd %s, wr %s", word[vr], word[vw]);
        for (const lab_l2_miss *m2[2] = {mrd, mwr}, **x = m2; x < m2 + 2; x++) {   /* reasons, each once */
            size_t i = 0;
            while (*x && i < *nwhy && strcmp(why[i]->why, (*x)->why))
                i++;
            if (*x && i == *nwhy && *nwhy < sizeof MISSES / sizeof MISSES[0])
                why[(*nwhy)++] = *x;
        }
        t->measured++;
        t->rd_ok += vr == 'o' || vr == 's';
        t->wr_ok += vw == 'o' || vw == 's';
        double e = fabs(l2_rel_err(k->io.dram_rd, meas->dram_rd));
        t->rd_worst = e > t->rd_worst ? e : t->rd_worst;
        if (!l2_within(k->io.dram_wr, meas->dram_wr, 0, L2_NCU_WR_SLACK) && meas->dram_wr) {
            e = fabs(l2_rel_err(k->io.dram_wr, meas->dram_wr));
            t->wr_worst = e > t->wr_worst ? e : t->wr_worst;
        }
    }
    fprintf(out, "%6zu %-9s %-12s %4zu %4zu %7llu %8llu | %9.1f %9.1f | %9.1f %9.1f | %9s %9s | %7s %7s  %s\n", p->N,
            attn_algo_name(p->algo), k->name, p->Br, p->Bc, (unsigned long long)k->blocks,
            (unsigned long long)k->resident, k->io.req_rd / MB, k->io.req_wr / MB, k->io.dram_rd / MB,
            k->io.dram_wr / MB, mr, mw, er, ew, verdict);
    if (!dat)
        return;
    fprintf(dat, "%zu %s %s %llu %llu %llu %llu", p->N, attn_algo_name(p->algo), k->name,
            (unsigned long long)k->io.req_rd, (unsigned long long)k->io.req_wr, (unsigned long long)k->io.dram_rd,
            (unsigned long long)k->io.dram_wr);
    if (meas)
        fprintf(dat, " %llu %llu\n", (unsigned long long)meas->dram_rd, (unsigned long long)meas->dram_wr);
    else
        fprintf(dat, " na na\n");
}

/* The forward pass's kernels summed ("all"), for the figure; measured only when every kernel was. */
static void dat_total(FILE *dat, const attn_params *p, const l2_kernel_result *k, int nk, const l2_ncu_row *const *m)
{
    uint64_t v[6] = {0};
    bool measured = true;
    for (int x = 0; x < nk; x++) {
        v[0] += k[x].io.req_rd, v[1] += k[x].io.req_wr, v[2] += k[x].io.dram_rd, v[3] += k[x].io.dram_wr;
        measured &= m[x] != NULL;
        if (m[x])
            v[4] += m[x]->dram_rd, v[5] += m[x]->dram_wr;
    }
    fprintf(dat, "%zu %s all %llu %llu %llu %llu", p->N, attn_algo_name(p->algo), (unsigned long long)v[0],
            (unsigned long long)v[1], (unsigned long long)v[2], (unsigned long long)v[3]);
    if (measured)
        fprintf(dat, " %llu %llu\n", (unsigned long long)v[4], (unsigned long long)v[5]);
    else
        fprintf(dat, " na na\n");
}

/* One forward pass of p's algorithm: its kernels' rows, matched with the table's rows first .. (NULL: none). */
static void pass(FILE *out, const l2_config *c, attn_params *p, const l2_ncu_table *tab, size_t first,
                 lab_l2_tally *t, FILE *dat, const lab_l2_miss **why, size_t *nwhy)
{
    l2_kernel_result k[L2_MAX_KERNELS];
    int nk = l2_predict_forward(c, p, k);
    const l2_ncu_row *m[L2_MAX_KERNELS] = {NULL};
    for (int x = 0; x < nk; x++) {
        for (size_t q = first; tab && q < tab->n && tab->row[q].N == p->N && tab->row[q].algo == p->algo; q++)
            if (!strcmp(tab->row[q].kernel, k[x].name))
                m[x] = &tab->row[q];
        if (m[x] && (m[x]->sim_rd != k[x].io.req_rd || m[x]->sim_wr != k[x].io.req_wr || m[x]->Br != p->Br ||
                     m[x]->Bc != p->Bc))
            fl_internal("N=%zu %s: the ledger (%llu, %llu bytes; blocks %zu x %zu) is not the one the table recorded",
                        p->N, k[x].name, (unsigned long long)k[x].io.req_rd, (unsigned long long)k[x].io.req_wr,
                        p->Br, p->Bc);
        row(out, c, &k[x], p, m[x], t, dat, why, nwhy);
    }
    if (dat)
        dat_total(dat, p, k, nk, m);
}

int lab_l2_report(FILE *out, const char *gpu, const lab_l2_opts *o, lab_l2_tally *tally)
{
    static const lab_l2_opts none = {0};
    static const size_t default_N[] = {1024, 2048, 4096, 8192, 16384};
    o = o ? o : &none;
    lab_l2_tally t = {0};
    const lab_l2_miss *why[sizeof MISSES / sizeof MISSES[0]];
    size_t nwhy = 0;
    const char *path = o->predict_only ? NULL : o->table ? o->table : lab_l2_table(gpu);
    l2_ncu_table tab = {0};
    char err[512], what[1024], esc[256];
    if (path && l2_ncu_load(path, &tab, err, sizeof err))
        fl_fatal("%s", err);
    if (!gpu) {   /* the table's GPU, from its device name */
        gpu = path ? lab_l2_gpu_of(tab.device) : NULL;
        if (!gpu)
            fl_fatal("%s was recorded on '%s', which has no preset; name the L2 (A100, H100, H200 or a size)",
                     fl_escape(path ? path : "", esc, sizeof esc), fl_escape(tab.device, what, sizeof what));
    }
    l2_config c = config(gpu);
    c.sample = o->sample;
    size_t d = o->d ? o->d : 64, B = o->B ? o->B : 1, H = o->H ? o->H : 16;
    if (path)
        snprintf(what, sizeof what, "measured on %s, %s (%s): fp32, d=%zu, B=%zu, H=%zu", tab.device, tab.date,
                 fl_escape(path, esc, sizeof esc), tab.d, tab.B, tab.H);
    else
        snprintf(what, sizeof what, "no measurements: fp32, d=%zu, B=%zu, H=%zu", d, B, H);
    header(out, &c, what);
    if (o->dat)
        fprintf(o->dat,
                "# the L2 model's DRAM bytes for the CUDA teaching kernels (build/rel/plots/l2_predict; docs/l2.md)\n"
                "# %s: %llu bytes of L2, %u partitions, %u ways, dirty fraction %.2f; measured: %s\n"
                "# fp32, d=%zu B=%zu H=%zu; bytes per kernel of one forward pass (ledger = requests)\n"
                "# N algo kernel ledger_rd ledger_wr pred_rd pred_wr meas_rd meas_wr   (kernel 'all': the pass summed)\n",
                c.name, (unsigned long long)c.bytes, c.parts, c.ways, c.dirty_fraction, path ? path : "none",
                path ? tab.d : d, path ? tab.B : B, path ? tab.H : H);
    for (size_t r = 0; path && r < tab.n; r++) {
        const l2_ncu_row *w = &tab.row[r];
        if ((r && w->N == tab.row[r - 1].N && w->algo == tab.row[r - 1].algo) || o->skip[w->algo])
            continue;   /* one forward pass predicts every kernel of its group */
        attn_params p = {.algo = w->algo, .N = w->N, .d = tab.d, .B = tab.B, .H = tab.H};
        pass(out, &c, &p, &tab, r, &t, o->dat, why, &nwhy);
    }
    for (size_t n = 0; !path && n < (o->nN ? o->nN : 5); n++)
        for (int a = 0; a < ATTN_NALGOS; a++) {
            attn_params p = {.algo = (attn_algo)a, .N = o->nN ? o->N[n] : default_N[n], .d = d, .B = B, .H = H};
            if (!o->skip[a])
                pass(out, &c, &p, NULL, 0, &t, o->dat, why, &nwhy);
        }
    for (size_t i = 0; i < nwhy; i++)
        fprintf(out, "%s%s\n", i ? "              " : "known misses: ", why[i]->why);
    if (t.measured)
        fprintf(out, "%zu kernel rows measured: reads within %.0f%% in %zu, writes within %.0f%% or %.0f MB in %zu; "
                "%zu known misses (docs/l2.md), %zu unexplained, %zu listed but no longer missing\n\n", t.measured,
                100 * L2_NCU_TOL, t.rd_ok, 100 * L2_NCU_TOL, L2_NCU_WR_SLACK / MB, t.wr_ok, t.known, t.unexplained,
                t.stale);
    else
        fprintf(out, "nothing measured on this GPU's L2 in this shape: predictions only\n\n");
    l2_ncu_free(&tab);
    if (tally)
        *tally = t;
    return t.unexplained || t.stale ? FL_EXIT_CHECK : FL_EXIT_OK;
}

int lab_l2_lesson(const cli_cfg *cfg)
{
    FILE *out = cfg->quiet ? fopen("/dev/null", "w") : stdout;
    if (!out)
        fl_fatal("cannot open /dev/null to discard the report under --quiet");
    lab_l2_tally t;
    int rc = lab_l2_report(out, cfg->l2, NULL, &t);
    if (out != stdout)
        fclose(out);
    const char *path = lab_l2_table(cfg->l2);
    l2_ncu_table tab = {.d = 64, .B = 1, .H = 16};   /* lab_l2_report's shape without a table */
    char err[512];
    if (path && l2_ncu_load(path, &tab, err, sizeof err))
        fl_fatal("%s", err);
    cli_cfg at = *cfg;
    at.N = t.N_max, at.d = tab.d, at.B = tab.B, at.H = tab.H, at.dtype = DTYPE_FP32, at.count_only = true;
    l2_ncu_free(&tab);
    summary_t s;
    summary_begin(&s, &at, "all", 0, 0);
    lab_sum_kv(&s, {"hbm_read_elems", t.ledger_rd / 4}, {"hbm_write_elems", t.ledger_wr / 4},   /* fp32 */
               {"hbm_read_bytes", t.ledger_rd}, {"hbm_write_bytes", t.ledger_wr});
    const char *na[] = {"sram_peak_bytes", "flops", "exps", "max_abs_err"};
    for (size_t i = 0; i < sizeof na / sizeof na[0]; i++)
        summary_str(&s, na[i], "na");
    summary_str(&s, "l2", cfg->l2);
    lab_sum_kv(&s, {"rows", t.rows}, {"measured", t.measured}, {"reads_within", t.rd_ok}, {"writes_within", t.wr_ok},
               {"known_misses", t.known}, {"unexplained", t.unexplained}, {"stale", t.stale},
               {"dram_pred_read_bytes", t.pred_rd}, {"dram_pred_write_bytes", t.pred_wr});
    double measured = t.measured ? 1.0 : NAN;   /* na without a table */
    lab_sum_fkv(&s, {"dram_meas_read_bytes", measured * (double)t.meas_rd},
                {"dram_meas_write_bytes", measured * (double)t.meas_wr}, {"worst_read_err", measured * t.rd_worst},
                {"worst_write_err", measured * t.wr_worst});
    summary_print(&s, stdout);
    return rc;
}
