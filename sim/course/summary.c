/* summary.c — the one-line key=value summary every lesson ends with (see include/course/summary.h). */
#include "summary.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>

#include "util.h"

static void add(summary_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(summary_t *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    s->len = fl_vappendf(s->buf, sizeof s->buf, s->len, fmt, ap);
    va_end(ap);
}

void summary_u64(summary_t *s, const char *key, uint64_t v) { add(s, " %s=%llu", key, (unsigned long long)v); }

void summary_f64(summary_t *s, const char *key, double v)
{
    if (!isfinite(v))   /* NaN or inf means nothing was measured (an empty max, an error of nothing): say so */
        add(s, " %s=na", key);
    else
        add(s, " %s=%.6g", key, v);
}

void summary_str(summary_t *s, const char *key, const char *v)
{
    add(s, " %s=", key);
    for (; v && *v; v++)
        add(s, "%c", *v == ' ' ? '_' : *v);
}

void summary_begin(summary_t *s, const cli_cfg *cfg, const char *algo, size_t Br, size_t Bc)
{
    s->len = 0;
    s->buf[0] = 0;
    add(s, "summary:");
    summary_str(s, "lesson", cfg->lesson);
    summary_str(s, "algo", algo);
    summary_u64(s, "N", cfg->N);
    summary_u64(s, "d", cfg->d);
    summary_u64(s, "B", cfg->B);
    summary_u64(s, "H", cfg->H);
    summary_u64(s, "M_bytes", cfg->M_bytes);
    summary_u64(s, "Br", Br);
    summary_u64(s, "Bc", Bc);
    summary_str(s, "dtype", dtype_name(cfg->dtype));
    summary_u64(s, "causal", cfg->causal);
    summary_u64(s, "count_only", cfg->count_only);
}

void summary_ledger(summary_t *s, const mem_t *m)
{
    io_count t = mem_io(m, NULL, NULL);
    summary_u64(s, "hbm_read_elems", t.rd_elems);
    summary_u64(s, "hbm_write_elems", t.wr_elems);
    summary_u64(s, "hbm_read_bytes", t.rd_bytes);
    summary_u64(s, "hbm_write_bytes", t.wr_bytes);
    summary_u64(s, "sram_peak_bytes", sram_peak(m));
    summary_u64(s, "hbm_peak_bytes", mem_hbm_peak(m));
    summary_u64(s, "flops", mem_flops(m, NULL));
    summary_u64(s, "exps", mem_exps(m, NULL));
    for (size_t i = 0; i < mem_ntensors(m); i++) {
        const char *name = mem_tensor_name(m, i);
        io_count c = mem_io(m, name, NULL);
        char key[MEM_NAME_LEN + 4];
        snprintf(key, sizeof key, "rd_%s", name);
        summary_u64(s, key, c.rd_elems);
        snprintf(key, sizeof key, "wr_%s", name);
        summary_u64(s, key, c.wr_elems);
    }
}

void summary_print(const summary_t *s, FILE *out)
{
    fputs(s->buf, out);
    fputc('\n', out);
    fflush(out);   /* a failed write is caught at the end: cli_main and outfile_check_stdout exit 3 */
}

bool summary_get(const char *line, const char *key, char *val, size_t vallen)
{
    size_t klen = strlen(key);
    for (const char *p = line; (p = strstr(p, key)) != NULL; p += klen) {
        if ((p != line && p[-1] != ' ') || p[klen] != '=')
            continue;
        const char *v = p + klen + 1;
        size_t n = strcspn(v, " \n");
        if (n >= vallen)
            return false;
        memcpy(val, v, n);
        val[n] = 0;
        return true;
    }
    return false;
}
