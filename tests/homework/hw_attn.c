/* hw_attn.c — one attention case for hw02 and hw05: run the student's forward on guarded HBM, compare O (and L)
 * with the double reference, and when they differ, say what the answer shows.
 *
 * A wrong O is matched against what the common mistakes compute, each made in double from the same inputs: O not
 * divided by l, l and O not rescaled when the running max grows, no scale, the causal mask missing or misplaced,
 * the last (ragged) key block left out, only one key block kept, attention of the decoys that HBM holds outside
 * counted loads. The first that fits names the mistake; otherwise the wrong elements are located (a head, the
 * ragged last query block, the rows a causal tile masks entirely) and the exercise's algorithm lines are quoted.
 */
#include <stdint.h>

#include "hw_check.h"

static void case_str(const hw_case *c, char *buf, size_t len)
{
    int n = snprintf(buf, len, "B=%zu N=%zu H=%zu d=%zu Br=%zu Bc=%zu%s%s", c->B, c->N, c->H, c->d, c->Br, c->Bc,
                     c->causal ? " causal" : "", c->qk_std > 1 ? " large-logits" : "");
    if (c->scale > 0 && n > 0 && (size_t)n < len)
        snprintf(buf + n, len - (size_t)n, " scale=%g", c->scale);
}

double hw_scale(const hw_case *c) { return c->scale > 0 ? c->scale : 1.0 / sqrt((double)c->d); }

attn_io_row hw_cf(const attn_io *cf, const char *tensor)
{
    for (size_t i = 0; i < cf->n; i++)
        if (!strcmp(cf->row[i].tensor, tensor))
            return cf->row[i];
    return (attn_io_row){tensor, 0, 0};
}

static float *fill(rng_t *g, size_t n, float std)
{
    float *x = xmalloc(n * sizeof *x);
    rng_fill_normal(g, x, n, std);
    return x;
}

void hw_attn_run(const hw_case *c, attn_algo algo, hw_attn_fn fn, uint64_t seed, hw_run *r)
{
    memset(r, 0, sizeof *r);
    r->c = *c;
    case_str(c, r->cs, sizeof r->cs);
    r->algo = algo;
    attn_params p = {.algo = algo, .B = c->B, .N = c->N, .H = c->H, .d = c->d, .causal = c->causal, .Br = c->Br,
                     .Bc = c->Bc, .scale = c->scale, .threads = 1};
    size_t n = c->B * c->N * c->H * c->d, nl = c->B * c->H * c->N;
    rng_t g;
    rng_seed(&g, seed);
    r->q = fill(&g, n, c->qk_std), r->k = fill(&g, n, c->qk_std), r->v = fill(&g, n, 1.0f);
    r->dq = fill(&g, n, c->qk_std), r->dk = fill(&g, n, c->qk_std), r->dv = fill(&g, n, 1.0f);
    r->o_init = fill(&g, n, 1.0f);
    r->o = xmalloc(n * sizeof *r->o);
    r->o_ref = xmalloc(n * sizeof *r->o_ref);
    r->l_ref = xmalloc(nl * sizeof *r->l_ref);
    ref_attention_bnhd(r->q, r->k, r->v, c->B, c->N, c->H, c->d, hw_scale(c), c->causal, r->o_ref,
                       r->l_ref);

    mem_t *m = mem_create(attn_sram_need(algo, false, c->Br, c->Bc, c->d, DTYPE_FP32), false);
    attn_tensors t = attn_alloc(m, &p, DTYPE_FP32, false);
    hw_guard_add(t.q, r->q, r->dq);
    hw_guard_add(t.k, r->k, r->dk);
    hw_guard_add(t.v, r->v, r->dv);
    hw_guard_add(t.out, NULL, r->o_init);
    hbm_tensor *stats[] = {t.lse, t.m, t.l};
    for (size_t i = 0; i < 3; i++)
        if (stats[i]) {
            float *garbage = fill(&g, nl, 1.0f);
            hw_guard_add(stats[i], NULL, garbage);
            if (stats[i] == t.lse)
                r->l_init = garbage;
            else
                free(garbage);
        }

    hw_guard_begin();
    fn(m, &p, &t);
    hw_guard_end();

    hbm_download(t.out, r->o);
    if (t.lse) {
        r->l = xmalloc(nl * sizeof *r->l);
        hbm_download(t.lse, r->l);
    }
    hw_guard_reset();
    r->atol = HW_ATOL + HW_LOGIT_ULPS * sqrt((double)c->d) * c->qk_std * c->qk_std * FLT_EPSILON;
    r->io = mem_io(m, NULL, NULL);
    r->q_io = mem_io(m, "Q", NULL);
    r->k_io = mem_io(m, "K", NULL);
    r->v_io = mem_io(m, "V", NULL);
    r->o_io = mem_io(m, "O", NULL);
    r->l_io = mem_io(m, "L", NULL);
    r->m1_io = mem_io(m, "m", NULL);
    r->l1_io = mem_io(m, "l", NULL);
    attn_io_closed_form(&p, false, &r->cf);
    attn_free(m, &t);
    mem_destroy(m);
}

void hw_run_free(hw_run *r)
{
    float *f[] = {r->q, r->k, r->v, r->dq, r->dk, r->dv, r->o, r->o_init, r->l, r->l_init};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        free(f[i]);
    free(r->o_ref);
    free(r->l_ref);
    memset(r, 0, sizeof *r);
}

void hw_attn_check(const hw_case *c, attn_algo algo, hw_attn_fn fn, uint64_t seed, hw_verdict first,
                   hw_verdict second)
{
    hw_run r;
    char msg[HW_MSG_LEN];
    hw_attn_run(c, algo, fn, seed, &r);
    bool ok = first(&r, msg, sizeof msg) && (!second || second(&r, msg, sizeof msg));
    hw_run_free(&r);
    ck_assert_msg(ok, "%s", msg);
}

/* ---- what the common mistakes compute --------------------------------------------------------------------------- */

typedef enum {
    V_RIGHT,          /* the reference itself (with the options below) */
    V_UNNORMALIZED,   /* sum_j e^(s_j - m) v_j: never divided by l */
    V_NO_RESCALE,     /* block j's terms taken against the running max after block j, never rescaled later */
} variant_kind;

typedef struct {
    variant_kind kind;
    double scale;
    bool causal;
    bool block_causal;   /* keys of every key block the row's query block visits, unmasked inside the tiles */
    size_t k_lo, k_hi;   /* the keys that count: [k_lo, k_hi) */
} variant;

/* O of one variant for every head, from inputs q, k, v (B, N, H, d), into out (B, N, H, d). */
static void variant_attention(const hw_case *c, const variant *va, const float *q, const float *k, const float *v,
                              double *out)
{
    size_t N = c->N, d = c->d, H = c->H;
    double *s = xmalloc(N * sizeof *s), *acc = xmalloc(d * sizeof *acc);
    for (size_t b = 0; b < c->B; b++)
        for (size_t h = 0; h < H; h++)
            for (size_t i = 0; i < N; i++) {
                const float *qi = q + ((b * N + i) * H + h) * d;
                size_t hi = va->causal && i + 1 < va->k_hi ? i + 1 : va->k_hi;
                if (va->block_causal) {   /* up to the end of the key block holding the query block's last row */
                    size_t q_last = i / c->Br * c->Br + c->Br - 1;
                    q_last = q_last < N ? q_last : N - 1;
                    hi = (q_last / c->Bc + 1) * c->Bc < N ? (q_last / c->Bc + 1) * c->Bc : N;
                }
                double mx = -INFINITY, l = 0;
                for (size_t j = va->k_lo; j < hi; j++) {
                    const float *kj = k + ((b * N + j) * H + h) * d;
                    double dot = 0;
                    for (size_t x = 0; x < d; x++)
                        dot += (double)qi[x] * kj[x];
                    s[j] = va->scale * dot;
                    mx = s[j] > mx ? s[j] : mx;
                }
                for (size_t x = 0; x < d; x++)
                    acc[x] = 0;
                double run = -INFINITY;                                 /* the running max after each block */
                for (size_t j0 = va->k_lo; j0 < hi; j0 += c->Bc) {
                    size_t j1 = j0 + c->Bc < hi ? j0 + c->Bc : hi;
                    for (size_t j = j0; j < j1; j++)
                        run = s[j] > run ? s[j] : run;
                    double m = va->kind == V_NO_RESCALE ? run : mx;
                    for (size_t j = j0; j < j1; j++) {
                        double e = exp(s[j] - m);
                        const float *vj = v + ((b * N + j) * H + h) * d;
                        l += e;
                        for (size_t x = 0; x < d; x++)
                            acc[x] += e * vj[x];
                    }
                }
                double *o = out + ((b * N + i) * H + h) * d;
                for (size_t x = 0; x < d; x++)
                    o[x] = hi <= va->k_lo ? 0 : va->kind == V_UNNORMALIZED ? acc[x] : acc[x] / l;
            }
    free(s);
    free(acc);
}

/* Is element i of O wrong (against the double reference)? */
static bool wrong(const hw_run *r, size_t i)
{
    double e = fabs((double)r->o[i] - r->o_ref[i]);
    return isnan(r->o[i]) || e > r->atol + HW_RTOL * fabs(r->o_ref[i]);
}

/* Does the student's O look like want, a mistake's answer? It must match on HW_DIAG_SHARE of all the elements and
 * of the wrong ones (loosely: the mistake was made in fp32), so a mistake explains what is wrong. */
static bool explains(const hw_run *r, const double *want)
{
    size_t n = r->c.B * r->c.N * r->c.H * r->c.d, ok = 0, bad = 0, bad_ok = 0;
    for (size_t i = 0; i < n; i++) {
        bool close = isfinite(r->o[i]) && fabs(r->o[i] - want[i]) <= 10 * r->atol + HW_DIAG_RTOL * fabs(want[i]);
        bool w = wrong(r, i);
        ok += close;
        bad += w;
        bad_ok += w && close;
    }
    return (double)ok >= HW_DIAG_SHARE * (double)n && (double)bad_ok >= HW_DIAG_SHARE * (double)bad;
}

static bool variant_matches(const hw_run *r, const variant *va, bool decoys, double *buf)
{
    variant_attention(&r->c, va, decoys ? r->dq : r->q, decoys ? r->dk : r->k, decoys ? r->dv : r->v, buf);
    return explains(r, buf);
}

/* Does the wrong O match a known mistake? Then hint gets what to fix. */
static bool known_mistake(const hw_run *r, char *hint, size_t len)
{
    const hw_case *c = &r->c;
    bool fa2 = r->algo == ATTN_FLASH2, found = true;
    size_t N = c->N, Bc = c->Bc, n = c->B * N * c->H * c->d;
    double *buf = xmalloc(n * sizeof *buf);
    const variant right = {V_RIGHT, hw_scale(c), c->causal, false, 0, N};
    variant unnorm = right, norescale = right, noscale = right, mask = right, noragged = right, last = right,
            first = right, tilemask = right, defscale = right;
    unnorm.kind = V_UNNORMALIZED;
    norescale.kind = V_NO_RESCALE;
    noscale.scale = 1.0;
    defscale.scale = 1.0 / sqrt((double)c->d);
    mask.causal = !c->causal;
    noragged.k_hi = N - N % Bc;
    last.k_lo = (N - 1) / Bc * Bc;
    first.k_hi = Bc;
    tilemask.causal = false;
    tilemask.block_causal = true;

    if (variant_matches(r, &right, true, buf))
        snprintf(hint, len, "Your O is the attention of the DECOY values: the test's HBM holds other numbers outside "
                 "counted transfers, so your code read Q, K, V some other way than hbm_load_rows/hbm_load_tile (the "
                 "tensor's storage directly, or hbm_download). Such reads are not in the ledger: load tiles.");
    else if (variant_matches(r, &unnorm, false, buf))
        snprintf(hint, len, "Each row of O is the right answer times l, its softmax sum: the normalisation by l is "
                 "missing. %s", fa2 ? "FA2 line 12: after the inner loop, Oi = diag(li)^-1 Oi — divide each row of "
                 "Oi by its li once, before writing it (line 14)."
                 : "Alg.1 line 12: Oi = diag(li_new)^-1 (diag(li) e^(mi - mi_new) Oi + e^(m~ij - mi_new) P~ij Vj) "
                 "keeps Oi normalised after every key block: scale the old Oi by li, divide the sum by li_new.");
    else if (N > Bc && variant_matches(r, &norescale, false, buf))
        snprintf(hint, len, "Each key block's terms are right but on different scales: when a block raises the "
                 "running max, the old li and Oi must be multiplied by e^(mi - mi_new) %s", fa2
                 ? "(FA2 lines 9-10: li = e^(mi - mi_new) li + rowsum(P~ij), Oi = diag(e^(mi - mi_new)) Oi + P~ij Vj)."
                 : "and the new block's l~ij and P~ij Vj by e^(m~ij - mi_new) (Alg.1 lines 11-12).");
    else if (c->d > 1 && variant_matches(r, &noscale, false, buf))
        snprintf(hint, len, "O is attention without the scale: Sij = scale Qi Kj^T with scale = p->scale, or "
                 "1/sqrt(d) when p->scale is 0.");
    else if (c->scale > 0 && variant_matches(r, &defscale, false, buf))
        snprintf(hint, len, "O is attention with scale 1/sqrt(d), but p->scale = %g here: p->scale is flash_attn_func's "
                 "softmax_scale, and only 0 (Python's None) means 1/sqrt(d).", c->scale);
    else if (N > 1 && variant_matches(r, &mask, false, buf))
        snprintf(hint, len, "%s", c->causal
                 ? "O is attention WITHOUT the causal mask: with p->causal, score (row r, key c) is -inf when c > r, "
                   "counted in the whole sequence (q0 + r and k0 + c, not within the tile)."
                 : "O is attention WITH a causal mask, but p->causal is false here: mask only when p->causal is set.");
    else if (c->causal && N > 1 && variant_matches(r, &tilemask, false, buf))
        snprintf(hint, len, "The key blocks after the query block are skipped, but inside the tiles that are visited "
                 "nothing is masked: score (row q0 + r, key k0 + c) is -inf when k0 + c > q0 + r (FA2 line 8).");
    else if (N % Bc && N > Bc && variant_matches(r, &noragged, false, buf))
        snprintf(hint, len, "The last key block is missing: N = %zu is not a multiple of Bc = %zu, so the last block "
                 "is ragged and holds keys %zu..%zu. Visit Tc = ceil(N/Bc) = %zu key blocks and load rows = min(Bc, "
                 "N - j*Bc).", N, Bc, N - N % Bc, N - 1, (N + Bc - 1) / Bc);
    else if (N > Bc && !c->causal && variant_matches(r, &last, false, buf))
        snprintf(hint, len, "O holds only the last key block's contribution: each key block must be added to what "
                 "the earlier ones left (rescaled), not overwrite it.");
    else if (N > Bc && variant_matches(r, &first, false, buf))
        snprintf(hint, len, "%s", fa2
                 ? "O holds only the first key block's contribution: the inner loop must visit every key block j = 0 "
                   ".. Tc-1 (FA2 line 6), accumulating into Oi."
                 : "O holds only the first key block's contribution: every later outer step j must load Oi, li, mi "
                   "back from HBM (line 8), add its block and store them again (lines 12-13).");
    else
        found = false;
    free(buf);
    return found;
}

/* ---- locating the wrong elements ------------------------------------------------------------------------------- */

/* Is row q masked entirely in some key block its query block visits (causal, the block after q's own keys)? */
static bool row_masked_in_a_tile(const hw_case *c, size_t q)
{
    if (!c->causal)
        return false;
    size_t q_last = (q / c->Br + 1) * c->Br - 1;   /* the tiles of q's block reach keys up to its last row */
    q_last = q_last < c->N ? q_last : c->N - 1;
    return (q / c->Bc + 1) * c->Bc <= q_last;       /* a visited key block starts after q */
}

typedef struct {
    size_t bad, nan, unset, n;
    size_t worst, first_unset;
    double worst_err;
    bool bad_head00, bad_other_head, bad_outside_last_qblock, nan_outside_masked_rows;
} where;

static where locate(const hw_run *r)
{
    const hw_case *c = &r->c;
    size_t d = c->d, H = c->H, N = c->N, last_q0 = (N - 1) / c->Br * c->Br;
    where w = {.n = c->B * N * H * d};
    for (size_t i = 0; i < w.n; i++) {
        float got = r->o[i];
        double want = r->o_ref[i], e = fabs((double)got - want);
        size_t h = i / d % H, row = i / d / H % N, b = i / d / H / N;
        if (!memcmp(&got, &r->o_init[i], sizeof got)) {
            if (!w.unset++)
                w.first_unset = i;
        }
        if (isnan(got)) {
            w.nan++;
            w.nan_outside_masked_rows |= !row_masked_in_a_tile(c, row);
        }
        if (wrong(r, i)) {
            if (!w.bad++ || isnan(e) || e > w.worst_err)
                w.worst = i, w.worst_err = isnan(e) ? INFINITY : e;
            w.bad_head00 |= b == 0 && h == 0;
            w.bad_other_head |= b || h;
            w.bad_outside_last_qblock |= row < last_q0;
        }
    }
    return w;
}

static const char *algo_lines(const hw_run *r)
{
    return r->algo == ATTN_FLASH2
               ? "Check FA2 Alg.1 lines 8-12: Sij = scale Qi Kj^T; mi_new = max(mi, rowmax(Sij)), P~ij = exp(Sij - "
                 "mi_new), li = e^(mi - mi_new) li + rowsum(P~ij); Oi = diag(e^(mi - mi_new)) Oi + P~ij Vj; after "
                 "the loop Oi = diag(li)^-1 Oi."
               : "Check Alg.1 lines 9-12: m~ij = rowmax(Sij), P~ij = exp(Sij - m~ij), l~ij = rowsum(P~ij); mi_new = "
                 "max(mi, m~ij), li_new = e^(mi - mi_new) li + e^(m~ij - mi_new) l~ij; Oi = diag(li_new)^-1 "
                 "(diag(li) e^(mi - mi_new) Oi + e^(m~ij - mi_new) P~ij Vj).";
}

bool hw_output_ok(const hw_run *r, char *msg, size_t len)
{
    const hw_case *c = &r->c;
    const char *cs = r->cs;
    where w = locate(r);
    if (!w.bad)
        return true;
    size_t d = c->d, H = c->H, N = c->N;
#define AT(i) (i) / d / H / N, (i) / d / H % N, (i) / d % H, (i) % d
    if (w.unset == w.n) {
        snprintf(msg, len, "%s: nothing reached O — t->out holds what HBM held before your code ran. Store each "
                 "finished Oi with hbm_store_rows(m, hbm_head(t->out, b, h), row0, rows, Oi, \"Oi\").", cs);
        return false;
    }
    if (w.unset) {
        size_t i = w.first_unset, row = i / d / H % N;
        const char *why = row >= (N - 1) / c->Br * c->Br && N % c->Br
                              ? "it is in the last query block, which is ragged: rows = min(Br, N - i*Br), and "
                                "Tr = ceil(N/Br) blocks"
                          : (i / d / H / N || i / d % H) ? "every head (b, h) is its own attention: loop over b < p->B "
                                                           "and h < p->H, with hbm_head(t->out, b, h)"
                                                         : "store every row block of O";
        snprintf(msg, len, "%s: %zu of %zu elements of O were never stored, the first O[b=%zu, row %zu, h=%zu, col "
                 "%zu]: %s.", cs, w.unset, w.n, AT(i), why);
        return false;
    }
    if (w.nan) {
        const char *why;
        if (c->causal && !w.nan_outside_masked_rows)
            why = "Every NaN row is one whose keys in some tile all come after it (causal: a tile can start after some of "
                  "its rows): there rowmax(Sij) "
                  "= -inf, and exp(-inf - (-inf)) = NaN. Where the max is still -inf, subtract 0 instead.";
        else if (c->qk_std > 1)
            why = "The logits here are in the thousands and e^s overflows to inf (inf/inf = NaN): only ever take exp "
                  "of a score minus the running max.";
        else
            why = "NaN comes from 0/0 (a row divided by an l of 0), inf - inf, or exp(-inf - (-inf)): initialise mi "
                  "to -inf and li to 0, and subtract 0 instead of a max that is still -inf.";
        snprintf(msg, len, "%s: %zu of %zu elements of O are NaN, the worst at O[b=%zu, row %zu, h=%zu, col %zu]. %s",
                 cs, w.nan, w.n, AT(w.worst), why);
        return false;
    }
    char known[600];
    const char *hint = known;
    if (!known_mistake(r, known, sizeof known)) {
        size_t last_q0 = (N - 1) / c->Br * c->Br;
        if (!w.bad_head00 && w.bad_other_head)
            hint = "Head (b=0, h=0) is right and the others are not: every head is its own attention — loop over "
                   "b < p->B and h < p->H and use hbm_head(t->q, b, h) (and K, V, O) for each.";
        else if (!w.bad_outside_last_qblock && N % c->Br && last_q0 > 0)
            hint = "Only the last query block is wrong, and it is ragged (N is not a multiple of Br): it holds rows "
                   "i*Br .. N-1, rows = min(Br, N - i*Br); loops over its rows must stop there.";
        else
            hint = algo_lines(r);
    }
    size_t i = w.worst;
    snprintf(msg, len, "%s: %zu of %zu elements of O are wrong; worst O[b=%zu, row %zu, h=%zu, col %zu] = %.6g but "
             "the double reference says %.6g. %s", cs, w.bad, w.n, AT(i), (double)r->o[i], r->o_ref[i], hint);
#undef AT
    return false;
}

bool hw_lse_ok(const hw_run *r, char *msg, size_t len)
{
    const hw_case *c = &r->c;
    size_t nl = c->B * c->H * c->N, bad = 0, nan = 0, unset = 0, worst = 0, near_m = 0, near_logl = 0;
    double worst_err = 0, scale = hw_scale(c);
    for (size_t i = 0; i < nl; i++) {
        size_t row = i % c->N, h = i / c->N % c->H, b = i / c->N / c->H;
        /* the row's max score: L - log(l) */
        const float *qi = r->q + ((b * c->N + row) * c->H + h) * c->d;
        double mx = -INFINITY;
        for (size_t j = 0; j < (c->causal ? row + 1 : c->N); j++) {
            const float *kj = r->k + ((b * c->N + j) * c->H + h) * c->d;
            double dot = 0;
            for (size_t x = 0; x < c->d; x++)
                dot += (double)qi[x] * kj[x];
            mx = scale * dot > mx ? scale * dot : mx;
        }
        double got = r->l[i], want = r->l_ref[i], e = fabs(got - want), tol = r->atol + HW_RTOL * fabs(want);
        unset += !memcmp(&r->l[i], &r->l_init[i], sizeof r->l[i]);
        nan += isnan(got);
        if (isnan(got) || e > tol) {
            if (!bad++ || isnan(e) || e > worst_err)
                worst = i, worst_err = isnan(e) ? INFINITY : e;
            near_m += fabs(got - mx) <= 10 * tol;
            near_logl += fabs(got - (want - mx)) <= 10 * tol;
        }
    }
    if (!bad)
        return true;
    const char *hint = unset == nl ? "L (t->lse) was never written: store Li = mi + log(li) once per query block "
                                     "(FA2 lines 13, 15)."
                       : unset ? "Some rows of L were never written: every query block stores its Li (line 15)."
                       : nan ? "NaN in L: log of an li of 0, or a NaN mi."
                       : near_m == bad ? "L equals the row max mi: the log(li) term is missing (Li = mi + log(li))."
                       : near_logl == bad ? "L equals log(li): the running max mi is missing (Li = mi + log(li), "
                                            "because li was summed as e^(s - mi))."
                                          : "L is the log-sum-exp of the row's scaled scores: mi + log(li) with mi "
                                            "and li after the last key block, before Oi is divided by li.";
    snprintf(msg, len, "%s: %zu of %zu values of L are wrong; worst L[b=%zu, h=%zu, row %zu] = %.6g but the double "
             "reference says %.6g. %s", r->cs, bad, nl, worst / c->N / c->H, worst / c->N % c->H, worst % c->N,
             (double)r->l[worst], r->l_ref[worst], hint);
    return false;
}
