/* lab_table.c — ledgers side by side in fixed-width lines (include/lab/lab_table.h). */
#include "lab_table.h"

#include <string.h>

#include "util.h"

typedef struct {
    char s[2048];
    size_t len;
} line_t;

static int chars(const char *s)   /* UTF-8 characters: lead bytes, not continuation bytes */
{
    int n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static void put(line_t *l, const char *s)
{
    size_t n = strlen(s);
    if (l->len + n >= sizeof l->s)
        n = sizeof l->s - 1 - l->len;
    memcpy(l->s + l->len, s, n);
    l->len += n;
    l->s[l->len] = 0;
}

static void pad(line_t *l, int n)
{
    for (; n > 0; n--)
        put(l, " ");
}

static void right(line_t *l, const char *s, int w)
{
    s = s ? s : "";
    pad(l, w - chars(s));
    put(l, s);
}

static void start(const lab_table *t, line_t *l, const char *label)
{
    l->len = 0;
    l->s[0] = 0;
    put(l, t->indent ? t->indent : "");
    label = label ? label : "";
    put(l, label);
    pad(l, t->label_w - chars(label));
}

static void finish(const lab_table *t, line_t *l, const char *suffix)
{
    while (l->len && l->s[l->len - 1] == ' ')
        l->s[--l->len] = 0;
    fprintf(t->out ? t->out : stdout, "%s%s\n", l->s, suffix ? suffix : "");
}

void lab_table_pair(const lab_table *t, const char *label, const char *const *cells, size_t n, const char *suffix)
{
    line_t l;
    start(t, &l, label);
    for (size_t r = 0; r < n; r++) {
        put(&l, r ? t->sep : t->first);
        right(&l, cells[2 * r], t->cell_w);
        put(&l, " ");
        right(&l, cells[2 * r + 1], t->cell_w);
    }
    finish(t, &l, suffix);
}

void lab_table_span(const lab_table *t, const char *label, const char *const *spans, size_t n, const char *suffix)
{
    line_t l;
    start(t, &l, label);
    for (size_t r = 0; r < n; r++) {
        put(&l, r ? t->sep : t->first);
        right(&l, spans[r], 2 * t->cell_w + 1);
    }
    finish(t, &l, suffix);
}

void lab_table_head(const lab_table *t, const char *label, const char *const *heads, size_t n)
{
    lab_table_span(t, label, heads, n, NULL);
}

#define MAX_RUNS 8   /* runs side by side in one table */

void lab_table_u64s(const lab_table *t, const char *label, const uint64_t *a, const uint64_t *b, size_t n,
                    const char *suffix)
{
    char buf[2 * MAX_RUNS][24];
    const char *cells[2 * MAX_RUNS];
    n = min_size(n, MAX_RUNS);
    for (size_t r = 0; r < n; r++) {
        snprintf(buf[2 * r], sizeof buf[0], "%llu", (unsigned long long)a[r]);
        snprintf(buf[2 * r + 1], sizeof buf[0], "%llu", (unsigned long long)b[r]);
        cells[2 * r] = buf[2 * r];
        cells[2 * r + 1] = buf[2 * r + 1];
    }
    lab_table_pair(t, label, cells, n, suffix);
}

void lab_table_u64(const lab_table *t, const char *label, const uint64_t *v, size_t n, bool span, const char *suffix)
{
    char buf[MAX_RUNS][24];
    const char *cells[2 * MAX_RUNS];
    n = min_size(n, MAX_RUNS);
    for (size_t r = 0; r < n; r++) {
        snprintf(buf[r], sizeof buf[0], "%llu", (unsigned long long)v[r]);
        cells[span ? r : 2 * r] = buf[r];
        if (!span)
            cells[2 * r + 1] = NULL;
    }
    if (span)
        lab_table_span(t, label, cells, n, suffix);
    else
        lab_table_pair(t, label, cells, n, suffix);
}

static bool moved(const mem_t *const *ms, size_t n, const char *name)
{
    for (size_t r = 0; r < n; r++) {
        io_count c = mem_io(ms[r], name, NULL);
        if (c.rd_elems || c.wr_elems)
            return true;
    }
    return false;
}

/* Reads and writes of tensor (NULL: all tensors) in every run, elements, under label. */
static void io_row(const lab_table *t, const mem_t *const *ms, size_t n, const char *tensor, const char *label,
                   const char *suffix)
{
    uint64_t rd[MAX_RUNS], wr[MAX_RUNS];
    n = min_size(n, MAX_RUNS);
    for (size_t r = 0; r < n; r++) {
        io_count c = ms[r] ? mem_io(ms[r], tensor, NULL) : (io_count){0, 0, 0, 0};
        rd[r] = c.rd_elems;
        wr[r] = c.wr_elems;
    }
    lab_table_u64s(t, label, rd, wr, n, suffix);
}

void lab_table_tensors(const lab_table *t, const mem_t *const *ms, size_t n, const char *const *names,
                       unsigned rows)
{
    if (names) {
        for (; *names; names++)
            if (!(rows & LAB_ROWS_MOVED) || moved(ms, n, *names))
                io_row(t, ms, n, *names, *names, NULL);
        return;
    }
    for (size_t r = 0; r < n; r++)   /* every tensor once, in order of appearance over the runs */
        for (size_t k = 0; ms[r] && k < mem_ntensors(ms[r]); k++) {
            const char *name = mem_tensor_name(ms[r], k);
            bool seen = false;
            for (size_t q = 0; q < r && !seen; q++)
                for (size_t j = 0; ms[q] && j < mem_ntensors(ms[q]) && !seen; j++)
                    seen = !strcmp(mem_tensor_name(ms[q], j), name);
            for (size_t j = 0; j < k && !seen; j++)
                seen = !strcmp(mem_tensor_name(ms[r], j), name);
            if (!seen && (!(rows & LAB_ROWS_MOVED) || moved(ms, n, name)))
                io_row(t, ms, n, name, name, NULL);
        }
}

void lab_table_total(const lab_table *t, const mem_t *const *ms, size_t n, const char *suffix)
{
    io_row(t, ms, n, NULL, "total", suffix);
}

void lab_table_bytes(const lab_table *t, const char *label, const mem_t *const *ms, size_t n, const char *suffix)
{
    char buf[2 * MAX_RUNS][32];
    const char *cells[2 * MAX_RUNS];
    n = min_size(n, MAX_RUNS);
    for (size_t r = 0; r < n; r++) {
        io_count c = mem_io(ms[r], NULL, NULL);
        cells[2 * r] = fmt_bytes(c.rd_bytes, buf[2 * r], sizeof buf[0]);
        cells[2 * r + 1] = fmt_bytes(c.wr_bytes, buf[2 * r + 1], sizeof buf[0]);
    }
    lab_table_pair(t, label, cells, n, suffix);
}

void lab_table_ledgers(const lab_table *t, const lab_attn *const *runs, size_t n)
{
    const char *c[5][2 * MAX_RUNS] = {{NULL}};
    char b[2][MAX_RUNS][32];
    const mem_t *ms[MAX_RUNS] = {NULL};
    uint64_t fl[MAX_RUNS] = {0}, ex[MAX_RUNS] = {0};
    n = min_size(n, MAX_RUNS);
    for (size_t a = 0; a < n; a++) {
        ms[a] = runs[a]->m;
        fl[a] = mem_flops(ms[a], NULL);
        ex[a] = mem_exps(ms[a], NULL);
        c[0][2 * a] = attn_algo_name(runs[a]->p.algo);
        c[1][2 * a] = "reads";
        c[1][2 * a + 1] = "writes";
        c[2][2 * a] = fmt_bytes(sram_peak(ms[a]), b[0][a], sizeof b[0][a]);
        c[3][2 * a] = fmt_bytes(mem_hbm_peak(ms[a]), b[1][a], sizeof b[1][a]);
        c[2][2 * a + 1] = c[3][2 * a + 1] = "peak";
        c[4][a] = runs[a]->closed_ok ? "= closed form" : "DIFFERS from closed form";
    }
    lab_table_pair(t, "tensor", c[0], n, NULL);
    lab_table_pair(t, "", c[1], n, NULL);
    lab_table_tensors(t, ms, n, NULL, LAB_ROWS_MOVED);
    lab_table_total(t, ms, n, NULL);
    lab_table_bytes(t, "bytes", ms, n, NULL);
    lab_table_u64(t, "FLOPs", fl, n, false, NULL);
    lab_table_u64(t, "exp()", ex, n, false, NULL);
    lab_table_pair(t, "SRAM", c[2], n, NULL);
    lab_table_pair(t, "HBM", c[3], n, NULL);
    lab_table_span(t, "closed", c[4], n, NULL);
}

static uint64_t quad_io(const mem_t *m, const char *const *quad, const char *phase)
{
    uint64_t q = 0;
    for (; quad && *quad; quad++) {
        io_count c = mem_io(m, *quad, phase);
        q += c.rd_elems + c.wr_elems;
    }
    return q;
}

uint64_t lab_table_phases(const lab_attn *r, const char *const *quad)
{
    printf("  %-11s %14s %14s %16s %14s\n", "phase", "reads", "writes", "of them N x N", "FLOPs");
    for (size_t ph = 0; ph < mem_nphases(r->m); ph++) {
        const char *name = mem_phase_name(r->m, ph);
        io_count c = mem_io(r->m, NULL, name);
        if (c.rd_elems || c.wr_elems)
            printf("  %-11s %14llu %14llu %16llu %14llu\n", name, (unsigned long long)c.rd_elems,
                   (unsigned long long)c.wr_elems, (unsigned long long)quad_io(r->m, quad, name),
                   (unsigned long long)mem_flops(r->m, name));
    }
    return quad_io(r->m, quad, NULL);
}

void lab_table_runs(const lab_table *t, const lab_attn *const *runs, size_t n, const char *const *heads,
                    const char *const *names)
{
    char buf[2][MAX_RUNS][32];
    const char *cells[2][MAX_RUNS] = {{NULL}}, *rw[2 * MAX_RUNS] = {NULL};
    const mem_t *ms[MAX_RUNS] = {NULL};
    uint64_t bytes[MAX_RUNS] = {0};
    n = min_size(n, MAX_RUNS);
    for (size_t r = 0; r < n; r++) {
        io_count c = mem_io(runs[r]->m, NULL, NULL);
        snprintf(buf[0][r], sizeof buf[0][r], "%zu x %zu", runs[r]->p.Br, runs[r]->p.Bc);
        snprintf(buf[1][r], sizeof buf[1][r], "%zu x %zu", runs[r]->Tr, runs[r]->Tc);
        cells[0][r] = buf[0][r];
        cells[1][r] = buf[1][r];
        ms[r] = runs[r]->m;
        bytes[r] = c.rd_bytes + c.wr_bytes;
    }
    lab_table_head(t, "", heads, n);
    lab_table_span(t, "Br x Bc", cells[0], n, NULL);
    lab_table_span(t, "Tr x Tc", cells[1], n, NULL);
    for (size_t r = 0; r < n; r++)
        rw[2 * r] = "reads", rw[2 * r + 1] = "writes";
    lab_table_pair(t, "tensor", rw, n, NULL);
    lab_table_tensors(t, ms, n, names, LAB_ROWS_ALL);
    lab_table_total(t, ms, n, NULL);
    lab_table_u64(t, "bytes rd+wr", bytes, n, true, NULL);
    for (size_t r = 0; r < n; r++)
        cells[0][r] = runs[r]->closed_ok ? "✓" : "✗";
    lab_table_span(t, "closed form", cells[0], n, NULL);
}
