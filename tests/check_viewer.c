/* check_viewer.c — what the learner watches: the HTML replay's page (self-contained, its ledger the model's, every
 * step kept, a large run sampled and said so, the census's estimate near the real size, the (m, l) of the rows in
 * flight exact), and figure 6's frames (plots/tile_frames: each frame's current tile is the step's tile, ragged last
 * blocks included, with the K rows of that tile in SRAM; the run's last frame has every tile done). The page's
 * behaviour in a browser is make test-viewer's (tests/viewer/run.sh). */
#define _XOPEN_SOURCE 700
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attention.h"
#include "check_util.h"   // defines: TCASE, str_count
#include "cli.h"
#include "proc.h"
#include "softmax.h"
#include "trace.h"

#ifndef BIN_DIR
#define BIN_DIR "."
#endif
#ifndef FRAMES_BIN
#define FRAMES_BIN "build/rel/plots/tile_frames"
#endif

/* ---- the page --------------------------------------------------------------------------------------------------- */

typedef struct {
    char *text;
    size_t len;
} page;

/* Trace one forward pass of algo (count-only or not) as HTML into memory; the model stays for comparisons. */
static page trace_attention(attn_algo a, size_t N, size_t d, size_t Br, size_t Bc, bool causal, bool count_only,
                            mem_t **model)
{
    attn_params p = {.algo = a, .B = 1, .N = N, .H = 1, .d = d, .Br = Br, .Bc = Bc, .causal = causal};
    mem_t *m = mem_create(attn_sram_need(a, false, Br, Bc, d, DTYPE_FP32), count_only);
    page pg = {NULL, 0};
    FILE *f = open_memstream(&pg.text, &pg.len);
    ck_assert_ptr_nonnull(f);
    trace_t *t = trace_open(m, TRACE_HTML, f);
    trace_meta(t, "lesson", "check_viewer");
    attn_tensors ts = attn_alloc(m, &p, DTYPE_FP32, false);
    if (!count_only) {
        float *x = calloc(N * d, sizeof *x);
        for (size_t i = 0; i < N * d; i++)
            x[i] = (float)((i * 7919) % 13) / 13.0f - 0.5f;
        hbm_upload(ts.q, x), hbm_upload(ts.k, x), hbm_upload(ts.v, x);
        free(x);
    }
    attn_forward(m, &p, &ts);
    attn_free(m, &ts);
    ck_assert_int_eq(trace_close(t), 0);
    ck_assert_int_eq(fclose(f), 0);
    *model = m;
    return pg;
}

/* The numbers after `["tag",` of the last such record, into v (up to n); how many were read. */
static int last_record(const char *s, const char *tag, unsigned long long *v, int n)
{
    char key[32];
    snprintf(key, sizeof key, "[\"%s\",", tag);
    const char *at = NULL;
    for (const char *p = strstr(s, key); p; p = strstr(p + 1, key))
        at = p;
    if (!at)
        return 0;
    at += strlen(key);
    int k = 0;
    for (char *end; k < n; k++, at = end + 1) {
        v[k] = strtoull(at, &end, 10);
        if (end == at || (*end != ',' && *end != ']'))
            break;
    }
    return k;
}

START_TEST(page_is_self_contained)
{
    mem_t *m;
    page pg = trace_attention(ATTN_FLASH2, 19, 4, 6, 4, false, false, &m);
    ck_assert_msg(!strncmp(pg.text, "<!doctype html>\n", 16), "%.40s", pg.text);
    ck_assert_msg(pg.len > 7 && !strcmp(pg.text + pg.len - 8, "</html>\n"), "the page does not end with </html>");
    ck_assert_uint_eq(str_count(pg.text, "<script id=\"flashlab-data\" type=\"application/json\">"), 1);
    ck_assert_uint_eq(str_count(pg.text, "<!--FLASHLAB-DATA-->"), 0);   /* replaced by the data */
    /* nothing fetched from anywhere: no URL, no external script, style sheet or image */
    static const char *const outside[] = {"http:", "https:", "src=", "<link", "@import", "url("};
    for (size_t k = 0; k < sizeof outside / sizeof outside[0]; k++)
        ck_assert_msg(!strstr(pg.text, outside[k]), "the page refers to something outside it: %s", outside[k]);
    /* the data cannot close its script element: every '<' inside is \u003c */
    const char *data = strstr(pg.text, "application/json\">"), *end = strstr(data, "</script>");
    ck_assert_ptr_nonnull(end);
    for (const char *c = data + strlen("application/json\">"); c < end; c++)
        ck_assert_msg(*c != '<', "a raw '<' in the data at offset %td", c - pg.text);
    ck_assert_uint_eq(str_count(pg.text, "[\"run\","), 1);
    ck_assert_uint_eq(str_count(pg.text, "[\"code\","), 2 * ATTN_NALGOS);   /* every pass's pseudocode */
    ck_assert_ptr_nonnull(strstr(pg.text, "[\"meta\",\"lesson\",\"check_viewer\"]"));
    free(pg.text);
    mem_destroy(m);
}
END_TEST

/* The page's "end" record is the model's ledger, which the page holds its replayed totals to. */
START_TEST(end_record_is_the_ledger)
{
    for (int a = 0; a < ATTN_NALGOS; a++) {
        mem_t *m;
        page pg = trace_attention((attn_algo)a, 19, 4, 6, 4, a == ATTN_FLASH2, false, &m);
        unsigned long long v[7];
        ck_assert_int_eq(last_record(pg.text, "end", v, 7), 7);
        io_count io = mem_io(m, NULL, NULL);
        ck_assert_uint_eq(v[0], io.rd_elems);
        ck_assert_uint_eq(v[1], io.wr_elems);
        ck_assert_uint_eq(v[2], io.rd_bytes);
        ck_assert_uint_eq(v[3], io.wr_bytes);
        ck_assert_uint_eq(v[4], mem_flops(m, NULL));
        ck_assert_uint_eq(v[5], mem_exps(m, NULL));
        ck_assert_uint_eq(v[6], sram_peak(m));
        unsigned long long s[4];   /* a small run keeps every event: nothing left out */
        ck_assert_int_eq(last_record(pg.text, "sample", s, 4), 4);
        ck_assert_uint_eq(s[2], 0);
        ck_assert_uint_eq(s[0], s[1]);
        free(pg.text);
        mem_destroy(m);
    }
}
END_TEST

/* 128 x 128 tiles: every step is in the page, the other events of only some tiles (said in the "sample" record),
 * key frames bring the totals back, and a census's estimate of the page's size is close to the real size. */
START_TEST(large_run_is_sampled)
{
    size_t N = 2048, d = 16, B = 16;
    mem_t *m;
    page pg = trace_attention(ATTN_FLASH1, N, d, B, B, false, true, &m);
    uint64_t tiles = (N / B) * (N / B);
    ck_assert_uint_eq(str_count(pg.text, "[\"T\","), tiles);
    unsigned long long s[4];
    ck_assert_int_eq(last_record(pg.text, "sample", s, 4), 4);
    ck_assert_uint_eq(s[0], tiles);
    ck_assert_uint_eq(s[3], TRACE_HTML_DETAIL_TILES);
    ck_assert_msg(s[1] > TRACE_HTML_DETAIL_TILES && s[1] < tiles / 2, "%llu of %llu tiles kept", s[1], s[0]);
    ck_assert_uint_gt(s[2], 0);
    ck_assert_uint_gt(str_count(pg.text, "[\"K\","), 0);
    unsigned long long v[2];
    ck_assert_int_eq(last_record(pg.text, "end", v, 2), 2);
    ck_assert_uint_eq(v[0], mem_io(m, NULL, NULL).rd_elems);
    /* the census of the same run */
    attn_params p = {.algo = ATTN_FLASH1, .B = 1, .N = N, .H = 1, .d = d, .Br = B, .Bc = B};
    mem_t *c = mem_create(mem_sram_capacity(m), true);
    trace_t *t = trace_open(c, TRACE_HTML, NULL);
    trace_meta(t, "lesson", "check_viewer");
    attn_tensors ts = attn_alloc(c, &p, DTYPE_FP32, false);
    attn_forward(c, &p, &ts);
    attn_free(c, &ts);
    double est = (double)trace_bytes(t);
    trace_close(t);
    ck_assert_msg(est > 0.8 * (double)pg.len && est < 1.25 * (double)pg.len, "census %.0f bytes, page %zu bytes", est,
                  pg.len);
    mem_destroy(c);
    free(pg.text);
    mem_destroy(m);
}
END_TEST

/* The numbers of the last ["R", ...] record: b, h, r0, rows, then m[] and l[] into m, l (n each). */
static int last_rows(const char *s, float *m, float *l, int n)
{
    const char *at = NULL;
    for (const char *p = strstr(s, "[\"R\","); p; p = strstr(p + 1, "[\"R\","))
        at = p;
    if (!at)
        return -1;
    char *e;
    at += 5;
    for (int k = 0; k < 4; k++, at = e + 1)
        strtoull(at, &e, 10);
    if (*at++ != '[')
        return -1;
    int k = 0;
    for (; k < n && *at != ']'; k++, at = e + (*e == ','))
        m[k] = strtof(at, &e);
    at += 2;   /* "]," */
    if (*at++ != '[')
        return -1;
    for (int j = 0; j < k; j++, at = e + 1)
        l[j] = strtof(at, &e);
    return k;
}

/* Online softmax: after the last tile of the first pass, each row's (m, l) in the page is the row's max and
 * sum of e^(x - m): m exactly (a float read back from 9 digits), l to float rounding; count-only runs have none. */
START_TEST(rows_in_flight_are_exact)
{
    enum { R = 3, N = 7 };
    float x[R * N], y[R * N];
    for (int i = 0; i < R * N; i++)
        x[i] = (float)((i * 37) % 11) - 3.5f + 0.25f * (float)(i % 3);
    for (int co = 0; co < 2; co++) {
        mem_t *m = mem_create(1024, co);
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        trace_t *t = trace_open(m, TRACE_HTML, f);
        hbm_tensor *X = hbm_alloc_mat(m, "x", DTYPE_FP32, R, N), *Y = hbm_alloc_mat(m, "y", DTYPE_FP32, R, N);
        hbm_upload(X, x);
        softmax_run(m, SOFTMAX_ONLINE, X, Y, R, 3, NULL, NULL);
        hbm_download(Y, y);
        trace_close(t);
        fclose(f);
        if (co) {
            ck_assert_uint_eq(str_count(text, "[\"R\","), 0);
        } else {
            ck_assert_uint_eq(str_count(text, "[\"R\","), 3);   /* Tc = 3 tiles in the max_sum pass, none in normalize */
            float mv[R], lv[R];
            ck_assert_int_eq(last_rows(text, mv, lv, R), R);
            for (int r = 0; r < R; r++) {
                float mx = -INFINITY;
                double sum = 0;
                for (int c = 0; c < N; c++)
                    mx = fmaxf(mx, x[r * N + c]);
                for (int c = 0; c < N; c++)
                    sum += exp((double)x[r * N + c] - mx);
                ck_assert_msg(mv[r] == mx, "row %d: m %.9g, max %.9g", r, mv[r], mx);
                ck_assert_msg(fabs(lv[r] - sum) <= 1e-5 * sum, "row %d: l %.9g, sum %.9g", r, lv[r], sum);
            }
        }
        free(text);
        mem_destroy(m);
    }
}
END_TEST

/* Row statistics are the HTML page's alone: a CSV trace of the same run has no row for them and the same numbers
 * of events as before mem_rows existed (its sequence numbers run on without a gap). */
START_TEST(other_formats_skip_rows)
{
    float x[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    mem_t *m = mem_create(1024, false);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    trace_t *t = trace_open(m, TRACE_CSV, f);
    hbm_tensor *X = hbm_alloc_mat(m, "x", DTYPE_FP32, 2, 6), *Y = hbm_alloc_mat(m, "y", DTYPE_FP32, 2, 6);
    hbm_upload(X, x);
    softmax_run(m, SOFTMAX_SAFE, X, Y, 2, 3, NULL, NULL);
    trace_close(t);
    fclose(f);
    ck_assert_ptr_null(strstr(text, ",rows,"));
    size_t rows = count_lines(text) - 1;   /* less the header */
    char want[32];
    snprintf(want, sizeof want, "\n%zu,", rows);   /* the last event's seq is the number of events */
    ck_assert_msg(strstr(text, want), "%zu events, but no seq %zu", rows, rows);
    free(text);
    mem_destroy(m);
}
END_TEST

START_TEST(html_limit_and_names)
{
    cli_cfg c = {.trace = TRACE_HTML};
    ck_assert_uint_eq(cli_trace_limit(&c), TRACE_HTML_LIMIT);
    c.trace_limit = 1000;
    ck_assert_uint_eq(cli_trace_limit(&c), 1000);
    trace_fmt f;
    ck_assert_int_eq(trace_fmt_parse("html", &f), 0);
    ck_assert_int_eq(f, TRACE_HTML);
    ck_assert_str_eq(trace_fmt_name(TRACE_HTML), "html");
}
END_TEST

/* ---- figure 6's frames ------------------------------------------------------------------------------------------ */

typedef struct {
    double x1, y1, x2, y2;
    unsigned color;
} rect;

/* Frames of tile_frames' output: each is a block of rectangles and a block of labels, blocks split by blank lines. */
typedef struct {
    rect r[512];
    size_t nr;
    char tile[256];   /* the "tile: ..." label */
} frame;

static size_t read_frames(const char *path, frame *fr, size_t max, long *N, long *d, long *Br, long *Bc)
{
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char line[512];
    size_t n = 0, blank = 0, block = 0;
    bool in_block = false;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "# N = %ld, d = %ld, Br = %ld, Bc = %ld", N, d, Br, Bc) == 4 || line[0] == '#')
            continue;
        if (line[0] == '\n') {
            blank++;
            in_block = false;
            continue;
        }
        if (!in_block) {
            if (n || block)
                block++;
            in_block = true;
            blank = 0;
        }
        size_t k = block / 2;
        ck_assert_uint_lt(k, max);
        n = k + 1;
        frame *fm = &fr[k];
        if (block % 2 == 0) {
            rect r;
            ck_assert_int_eq(sscanf(line, "%lf %lf %lf %lf %x", &r.x1, &r.y1, &r.x2, &r.y2, &r.color), 5);
            ck_assert_uint_lt(fm->nr, sizeof fm->r / sizeof fm->r[0]);
            fm->r[fm->nr++] = r;
        } else if (strstr(line, "\"tile: ")) {
            snprintf(fm->tile, sizeof fm->tile, "%s", strstr(line, "\"tile: ") + 7);
        }
    }
    fclose(f);
    return n;
}

#define RED 0xe8574c
#define GREY 0xbbbbbb
#define K_COLOR 0xf2a541

START_TEST(figure6_marks_the_right_tile)
{
    char csv[] = "/tmp/flashlab_fig6_XXXXXX", dat[64];
    int fd = mkstemp(csv);
    ck_assert_int_ge(fd, 0);
    close(fd);
    snprintf(dat, sizeof dat, "%s.dat", csv);
    const char *args[] = {"--quiet", "--trace", "csv", "--trace-file", csv, NULL};
    proc p = run_bin(BIN_DIR "/lesson03", args, NULL);
    ck_assert_msg(p.status == 0, "lesson03: exit %d, %s", p.status, p.err);
    proc_free(&p);
    ck_assert_msg(access(FRAMES_BIN, X_OK) == 0, "%s is not built (make %s)", FRAMES_BIN, FRAMES_BIN);
    const char *fargs[] = {csv, dat, NULL};
    p = run_bin(FRAMES_BIN, fargs, NULL);
    ck_assert_msg(p.status == 0, "tile_frames: exit %d, %s", p.status, p.err);
    proc_free(&p);

    static frame fr[64];
    memset(fr, 0, sizeof fr);
    long N = 0, d = 0, Br = 0, Bc = 0;
    size_t n = read_frames(dat, fr, 64, &N, &d, &Br, &Bc);
    unlink(csv);
    unlink(dat);
    ck_assert_msg(N == 8 && d == 4 && Br == 3 && Bc == 3, "lesson03's default: N=8, d=4, 3 x 3 blocks (ragged)");
    long Tr = (N + Br - 1) / Br, Tc = (N + Bc - 1) / Bc;
    double xs = 3.0 * (double)(d + 2);   /* where S = Q K^T starts: Q | K | V | S */
    size_t tiles = 0, finals = 0;
    for (size_t k = 0; k < n; k++) {
        const frame *f = &fr[k];
        long i, j;
        size_t red = 0, grey = 0, krows = 0;
        long k0 = N, k1 = -1;
        for (size_t r = 0; r < f->nr; r++) {
            red += f->r[r].color == RED;
            grey += f->r[r].color == GREY;
            if (f->r[r].color == K_COLOR) {   /* K's rows in SRAM: x in [d + 2, 2d + 2), y = -row */
                krows++;
                k0 = (long)-f->r[r].y1 < k0 ? (long)-f->r[r].y1 : k0;
                k1 = (long)-f->r[r].y2 > k1 ? (long)-f->r[r].y2 : k1;
            }
        }
        if (sscanf(f->tile, "(i=%ld, j=%ld)", &i, &j) == 2) {
            tiles++;
            long r0 = i * Br, r1 = r0 + Br < N ? r0 + Br : N, c0 = j * Bc, c1 = c0 + Bc < N ? c0 + Bc : N;
            ck_assert_msg(red == 1, "frame %zu (%s): %zu current tiles", k, f->tile, red);
            for (size_t r = 0; r < f->nr; r++)
                if (f->r[r].color == RED)
                    ck_assert_msg(f->r[r].x1 == xs + (double)c0 && f->r[r].x2 == xs + (double)c1 &&
                                      f->r[r].y1 == -(double)r0 && f->r[r].y2 == -(double)r1,
                                  "frame %zu: tile (%ld, %ld) is rows %ld..%ld, columns %ld..%ld; drawn at x %g..%g, "
                                  "y %g..%g", k, i, j, r0, r1, c0, c1, f->r[r].x1 - xs, f->r[r].x2 - xs,
                                  -f->r[r].y1, -f->r[r].y2);
            ck_assert_uint_eq(grey, (size_t)(tiles - 1) % (size_t)(Tr * Tc));   /* the tiles before it, done */
            /* SRAM holds the tile's own key block, not the next one's */
            ck_assert_msg(k0 == c0 && k1 == c1 && krows == (size_t)(c1 - c0),
                          "frame %zu (%s): K rows %ld..%ld in SRAM, the tile's are %ld..%ld", k, f->tile, k0, k1, c0,
                          c1);
        } else {
            ck_assert_msg(strstr(f->tile, "tiles done"), "frame %zu: '%s'", k, f->tile);
            finals++;
            ck_assert_uint_eq(red, 0);
            ck_assert_uint_eq(grey, (size_t)(Tr * Tc));
            for (long ti = 0; ti < Tr; ti++)   /* every tile grey, at its own place */
                for (long tj = 0; tj < Tc; tj++) {
                    bool found = false;
                    long r0 = ti * Br, r1 = r0 + Br < N ? r0 + Br : N, c0 = tj * Bc, c1 = c0 + Bc < N ? c0 + Bc : N;
                    for (size_t r = 0; r < f->nr; r++)
                        found |= f->r[r].color == GREY && f->r[r].x1 == xs + (double)c0 &&
                                 f->r[r].x2 == xs + (double)c1 && f->r[r].y1 == -(double)r0 &&
                                 f->r[r].y2 == -(double)r1;
                    ck_assert_msg(found, "the last frame leaves tile (%ld, %ld) white", ti, tj);
                }
        }
    }
    ck_assert_uint_eq(tiles, 2 * (size_t)(Tr * Tc));   /* part 1 and part 2 */
    ck_assert_uint_eq(finals, 2);
}
END_TEST

Suite *viewer_suite(void)
{
    Suite *s = suite_create("viewer");
    TCASE(s, "Page", 60, {page_is_self_contained}, {end_record_is_the_ledger}, {large_run_is_sampled},
          {rows_in_flight_are_exact}, {other_formats_skip_rows}, {html_limit_and_names});
    TCASE(s, "Frames", 60, {figure6_marks_the_right_tile});
    return s;
}
