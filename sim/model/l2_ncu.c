/* l2_ncu.c — recorded Nsight Compute tables and the L2 model's predictions for them (see include/model/l2_ncu.h). */
#include "l2_ncu.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define LINE_MAX_LEN 4096

/* "# Nsight Compute (...) on NVIDIA H100 80GB HBM3, 2026-12-06; cuda/ncu.sh" -> device, date */
static void parse_title(const char *line, l2_ncu_table *t)
{
    const char *on = strstr(line, ") on ");
    if (!on)
        return;
    on += 5;
    const char *comma = strchr(on, ',');
    if (!comma)
        return;
    snprintf(t->device, sizeof t->device, "%.*s", (int)(comma - on), on);
    while (*++comma == ' ')
        ;
    snprintf(t->date, sizeof t->date, "%.10s", comma);
}

int l2_ncu_load(const char *path, l2_ncu_table *t, char *err, size_t errlen)
{
    char esc[256], line[LINE_MAX_LEN];
    memset(t, 0, sizeof *t);
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot read %s: %s", fl_escape(path, esc, sizeof esc), strerror(errno));
        return -1;
    }
    size_t cap = 0, lineno = 0;
    int rc = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (line[0] == '#') {
            const char *cmd = strstr(line, " once ALGO N ");
            if (strstr(line, "Nsight Compute") && !t->device[0])
                parse_title(line, t);
            if (cmd && sscanf(cmd, " once ALGO N %zu %zu %zu", &t->d, &t->B, &t->H) != 3)
                t->d = 0;
            continue;
        }
        l2_ncu_row r;
        char algo[32];
        unsigned long long v[4];
        if (sscanf(line, "%zu %31s %23s %zu %zu %llu %llu %llu %llu", &r.N, algo, r.kernel, &r.Br, &r.Bc, &v[0], &v[1],
                   &v[2], &v[3]) != 9 ||
            attn_algo_parse(algo, &r.algo)) {
            if (strspn(line, " \t\r\n") == strlen(line))
                continue;
            snprintf(err, errlen, "%s:%zu: not a row of an ncu table (N algo kernel Br Bc sim_rd sim_wr dram_rd "
                     "dram_wr ...)", fl_escape(path, esc, sizeof esc), lineno);
            rc = -1;
            break;
        }
        if (!strcmp(r.kernel, "all"))   /* the totals over a forward pass: the kernels' rows say it all */
            continue;
        r.sim_rd = v[0], r.sim_wr = v[1], r.dram_rd = v[2], r.dram_wr = v[3];
        if (t->n == cap) {
            cap = cap ? 2 * cap : 32;
            l2_ncu_row *grown = realloc(t->row, cap * sizeof *grown);
            if (!grown)
                fl_fatal("out of host memory reading %s", fl_escape(path, esc, sizeof esc));
            t->row = grown;
        }
        t->row[t->n++] = r;
    }
    if (!rc && ferror(f)) {
        snprintf(err, errlen, "cannot read %s", fl_escape(path, esc, sizeof esc));
        rc = -1;
    }
    if (!rc && (!t->n || !t->d || !t->B || !t->H)) {
        snprintf(err, errlen, "%s: no rows, or no 'command per point: ... once ALGO N d B H' line giving the shape",
                 fl_escape(path, esc, sizeof esc));
        rc = -1;
    }
    fclose(f);
    if (rc)
        l2_ncu_free(t);
    return rc;
}

void l2_ncu_free(l2_ncu_table *t)
{
    free(t->row);
    t->row = NULL;
    t->n = 0;
}

unsigned l2_sample_for(const attn_params *p)
{
    attn_io io;
    attn_io_closed_form(p, false, &io);
    uint64_t bytes = (io.rd + io.wr) * 4;   /* the teaching kernels are fp32 */
    unsigned s = 1;
    while (s < 1024 && bytes / s > L2_EXACT_BYTES)
        s *= 2;
    return s;
}

int l2_predict_forward(const l2_config *c, attn_params *p, l2_kernel_result *out)
{
    block_choice ch;
    char err[512];
    if (attn_choose_blocks(p, false, c->smem_optin, DTYPE_FP32, 0, 0, &ch, err, sizeof err))
        fl_fatal("%s", err);
    l2_config cs = *c;
    if (!cs.sample)
        cs.sample = l2_sample_for(p);
    l2_kernel k[L2_MAX_KERNELS];
    int nk = l2_attn_kernels(p, k);
    mem_t *m = mem_create(c->smem_optin, true);
    l2_t *l2 = l2_create(&cs);
    l2_attach(l2, m, k, nk);
    attn_tensors t = attn_alloc(m, p, DTYPE_FP32, false);
    attn_forward(m, p, &t);
    l2_finish(l2);
    for (int x = 0; x < nk; x++) {
        out[x] = (l2_kernel_result){.blocks = k[x].blocks, .resident = l2_resident(&cs, &k[x]),
                                    .io = l2_io(l2, NULL, k[x].name)};
        memcpy(out[x].name, k[x].name, sizeof out[x].name);   /* both char[24] */
    }
    l2_destroy(l2);
    attn_free(m, &t);
    mem_destroy(m);
    return nk;
}

bool l2_within(uint64_t pred, uint64_t meas, double tol, uint64_t slack)
{
    uint64_t diff = pred > meas ? pred - meas : meas - pred;
    return diff <= slack || (double)diff <= tol * (double)meas;
}

double l2_rel_err(uint64_t pred, uint64_t meas)
{
    if (!meas)
        return pred ? INFINITY : 0.0;
    return ((double)pred - (double)meas) / (double)meas;
}
