/* cli.c — the common command line, parsed once for every lesson (see include/course/cli.h). */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "l2.h"
#include "outfile.h"
#include "util.h"

/* Upper bounds that keep every later product (N*N, N*d, B*H*N*d) inside 64 bits and a lesson inside reason. */
#define CLI_MAX_N ((size_t)1 << 24)
#define CLI_MAX_D ((size_t)1 << 14)
#define CLI_MAX_BH ((size_t)1 << 16)
#define CLI_MAX_M ((size_t)1 << 40)

static int fail(const cli_spec *spec, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(const cli_spec *spec, const char *fmt, ...)
{
    char msg[1024], safe[4 * sizeof msg];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n >= (int)sizeof msg)   /* a huge echoed value: keep the start, say it was cut */
        memcpy(msg + sizeof msg - 4, "...", 4);
    fprintf(stderr, "%s: error: %s (try --help)\n", spec->name, fl_escape(msg, safe, sizeof safe));
    return CLI_ERROR;
}

/* A decimal count: digits only, no sign, no overflow. */
static bool parse_u64(const char *s, uint64_t *out)
{
    if (!s || !isdigit((unsigned char)*s))
        return false;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno == ERANGE || *end)
        return false;
    *out = v;
    return true;
}

bool cli_parse_bytes(const char *s, size_t *out)
{
    if (!s || !isdigit((unsigned char)*s))
        return false;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno == ERANGE)
        return false;
    static const struct { const char *suffix; unsigned shift; } units[] = {
        {"", 0}, {"B", 0}, {"K", 10}, {"KB", 10}, {"KiB", 10}, {"k", 10}, {"M", 20}, {"MB", 20}, {"MiB", 20},
        {"G", 30}, {"GB", 30}, {"GiB", 30}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (!strcmp(end, units[i].suffix)) {
            if (v > (SIZE_MAX >> units[i].shift))
                return false;
            *out = (size_t)v << units[i].shift;
            return true;
        }
    return false;
}

static void usage(const cli_spec *spec, FILE *f)
{
    const cli_cfg *d = &spec->defaults;
    fprintf(f, "%s — %s\n\nusage: ./%s [options]\n\n", spec->name, spec->title, spec->name);
    fprintf(f,
            "  -N, --seq-len N        sequence length (default %zu)\n"
            "  -d, --head-dim D       head dimension (default %zu)\n"
            "  -M, --sram BYTES       SRAM capacity M; suffixes K/KiB, M/MiB, G/GiB are powers of 1024 (default %zu)\n"
            "      --block-rows BR    query rows per block Br (default: the paper's rule, fitted to M)\n"
            "      --block-cols BC    key rows per block Bc (default: Bc = ceil(M/4d), fitted to M)\n"
            "      --dtype T          storage type in HBM: fp32, fp16 or bf16 (default %s)\n"
            "      --batch B          batch size (default %zu)\n"
            "      --heads H          number of heads (default %zu)\n",
            d->N, d->d, d->M_bytes, dtype_name(d->dtype), d->B, d->H);
    if (spec->extra & CLI_OPT_CAUSAL)
        fprintf(f, "      --causal           mask keys after the query (autoregressive attention)\n");
    if (spec->extra & CLI_OPT_ALGO) {
        fprintf(f, "      --algo NAME        one of:");
        for (const char *const *a = spec->algos; a && *a; a++)
            fprintf(f, " %s", *a);
        fprintf(f, " (default %s)\n", d->algo ? d->algo : "all");
    }
    if (spec->extra & CLI_OPT_TRACE)
        fprintf(f,
                "      --trace FMT        none, text, csv, json (Chrome trace, for Perfetto) or html (a page that\n"
                "                         replays the run tile by tile in a browser) (default %s)\n"
                "      --trace-file PATH  write the trace there instead of stdout (all or nothing: no partial file)\n"
                "      --trace-limit B    refuse a trace estimated above B bytes (default %llu = 1 GiB, html 64 MiB;\n"
                "                         K/M/G suffixes)\n",
                trace_fmt_name(d->trace), (unsigned long long)CLI_TRACE_LIMIT);
    fprintf(f,
            "      --seed S           random seed for the inputs (default %llu)\n"
            "      --count-only       run the loops and count, without arithmetic or data\n"
            "      --quiet            print only the summary line\n",
            (unsigned long long)d->seed);
    for (const cli_own_opt *o = spec->own; o->name; o++) {
        char opt[40];
        snprintf(opt, sizeof opt, "--%s%s%s", o->name, o->meta ? " " : "", o->meta ? o->meta : "");
        fprintf(f, "      %-19s%s\n", opt, o->help);
    }
    if (spec->extra & CLI_OPT_THREADS)
        fprintf(f, "      --threads T        OpenMP threads (default: OMP_NUM_THREADS or all cores)\n");
    if (spec->extra & CLI_OPT_STEP)
        fprintf(f, "      --step             pause after each tile in a terminal (Enter: next, c: run on, q: quit)\n");
    if (spec->extra & CLI_OPT_L2)
        fprintf(f, "      --l2 GPU|SIZE      predict the DRAM bytes an L2 leaves: A100, H100, H200 or a size like 50M\n"
                   "                         (powers of 1024; default: no L2, the ledger alone)\n");
    if (spec->extra & CLI_OPT_OUT_DIR)
        fprintf(f, "      --out-dir DIR      where to write data files (default %s)\n", d->out_dir ? d->out_dir : ".");
    fprintf(f, "  -h, --help             this text\n      --version          print the version\n");
    if (spec->details)
        fprintf(f, "\n%s\n", spec->details);
    fprintf(f, "\nThe last line of output is always 'summary: key=value ...'. Exit status: 0 ok, 1 a check failed, "
               "2 bad input,\n3 output lost (a write failed; no partial file is left), 4 internal error.\n");
}

/* Option table: long name, short letter (or 0), takes a value, and the CLI_OPT_* bit it needs (0: common). */
typedef struct {
    const char *lng;
    char shrt;
    bool value;
    unsigned needs;
} opt_def;

static const opt_def OPTS[] = {
    {"seq-len", 'N', true, 0},      {"head-dim", 'd', true, 0},     {"sram", 'M', true, 0},
    {"block-rows", 0, true, 0},     {"block-cols", 0, true, 0},     {"dtype", 0, true, 0},
    {"batch", 0, true, 0},          {"heads", 0, true, 0},          {"causal", 0, false, CLI_OPT_CAUSAL},
    {"trace", 0, true, CLI_OPT_TRACE}, {"trace-file", 0, true, CLI_OPT_TRACE},
    {"trace-limit", 0, true, CLI_OPT_TRACE}, {"seed", 0, true, 0},
    {"count-only", 0, false, 0},    {"quiet", 0, false, 0},         {"threads", 0, true, CLI_OPT_THREADS},
    {"algo", 0, true, CLI_OPT_ALGO}, {"step", 0, false, CLI_OPT_STEP}, {"out-dir", 0, true, CLI_OPT_OUT_DIR},
    {"help", 'h', false, 0},        {"version", 0, false, 0},
    {"l2", 0, true, CLI_OPT_L2},
};

/* Edit distance (insertions, deletions, substitutions and swaps of neighbours) between a and b, both short. */
static size_t edits(const char *a, const char *b)
{
    size_t n = strlen(a), m = strlen(b), d[33][33];
    if (n > 32 || m > 32)
        return SIZE_MAX;
    for (size_t i = 0; i <= n; i++)
        for (size_t j = 0; j <= m; j++) {
            if (!i || !j) {
                d[i][j] = i + j;
                continue;
            }
            size_t best = min_size(d[i - 1][j] + 1, d[i][j - 1] + 1);
            best = min_size(best, d[i - 1][j - 1] + (a[i - 1] != b[j - 1]));
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                best = min_size(best, d[i - 2][j - 2] + 1);
            d[i][j] = best;
        }
    return d[n][m];
}

/* "; did you mean --seq-len?": the closest of names to s when it is close (a third of its letters wrong at most),
 * else "". prefix goes before the name ("--" for options, "" for values). */
static const char *did_you_mean(const char *s, const char *const *names, size_t n, const char *prefix, char *buf,
                                size_t len)
{
    size_t best = SIZE_MAX, at = 0;
    for (size_t k = 0; k < n; k++) {
        size_t e = edits(s, names[k]);
        if (e < best)
            best = e, at = k;
    }
    *buf = 0;
    if (best <= max_size(1, strlen(s) / 3))
        snprintf(buf, len, "; did you mean %s%s?", prefix, names[at]);
    return buf;
}

/* An unknown option: one line, with the closest option this lesson takes when there is one. */
static int unknown_option(const cli_spec *spec, const char *arg)
{
    const char *names[sizeof OPTS / sizeof OPTS[0]];
    size_t n = 0;
    for (size_t k = 0; k < sizeof OPTS / sizeof OPTS[0]; k++)
        if (!OPTS[k].needs || (spec->extra & OPTS[k].needs))
            names[n++] = OPTS[k].lng;
    char name[64], hint[96];
    snprintf(name, sizeof name, "%.*s", (int)strcspn(arg + strspn(arg, "-"), "="), arg + strspn(arg, "-"));
    return fail(spec, "unknown option '%s'%s", arg, did_you_mean(name, names, n, "--", hint, sizeof hint));
}

/* A value not among names: "--what must be one of ..., got 'x'; did you mean y?" */
static int bad_name(const cli_spec *spec, const char *what, const char *const *names, size_t n, const char *val)
{
    char list[256] = "", hint[96];
    size_t len = 0;
    for (size_t k = 0; k < n && len < sizeof list - 32; k++)
        len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", !k ? "" : k + 1 == n ? " or " : ", ", names[k]);
    return fail(spec, "--%s must be %s%s, got '%s'%s", what, n > 2 ? "one of " : "", list, val,
                did_you_mean(val, names, n, "", hint, sizeof hint));
}

static int set_size(const cli_spec *spec, const char *opt, const char *val, size_t max, size_t *dst)
{
    uint64_t v;
    if (!parse_u64(val, &v))
        return fail(spec, "--%s needs a positive whole number, got '%s'", opt, val);
    if (v == 0)
        return fail(spec, "--%s must be at least 1, got 0", opt);
    if (v > max)
        return fail(spec, "--%s %s is too large (at most %zu)", opt, val, max);
    *dst = (size_t)v;
    return CLI_OK;
}

static int apply(const cli_spec *spec, const opt_def *o, const char *val, cli_cfg *cfg)
{
    const char *n = o->lng;
    if (!strcmp(n, "seq-len")) return set_size(spec, n, val, CLI_MAX_N, &cfg->N);
    if (!strcmp(n, "head-dim")) return set_size(spec, n, val, CLI_MAX_D, &cfg->d);
    if (!strcmp(n, "block-rows")) return set_size(spec, n, val, CLI_MAX_N, &cfg->Br);
    if (!strcmp(n, "block-cols")) return set_size(spec, n, val, CLI_MAX_N, &cfg->Bc);
    if (!strcmp(n, "batch")) return set_size(spec, n, val, CLI_MAX_BH, &cfg->B);
    if (!strcmp(n, "heads")) return set_size(spec, n, val, CLI_MAX_BH, &cfg->H);
    if (!strcmp(n, "sram")) {
        size_t b;
        if (!cli_parse_bytes(val, &b))
            return fail(spec, "--sram needs a byte count like 65536, 64K or 1MiB, got '%s'", val);
        if (b == 0)
            return fail(spec, "--sram must be at least 1 byte");
        if (b > CLI_MAX_M)
            return fail(spec, "--sram %s is too large (at most 1 TiB)", val);
        cfg->M_bytes = b;
        return CLI_OK;
    }
    if (!strcmp(n, "trace-limit")) {
        size_t b;
        if (!cli_parse_bytes(val, &b))
            return fail(spec, "--trace-limit needs a byte count like 1073741824, 512M or 4GiB, got '%s'", val);
        if (b == 0)
            return fail(spec, "--trace-limit must be at least 1 byte");
        cfg->trace_limit = b;
        return CLI_OK;
    }
    if (!strcmp(n, "dtype")) {
        static const char *const dtypes[] = {"fp32", "fp16", "bf16"};
        return dtype_parse(val, &cfg->dtype) ? bad_name(spec, n, dtypes, 3, val) : CLI_OK;
    }
    if (!strcmp(n, "trace")) {
        static const char *const fmts[] = {"none", "text", "csv", "json", "html"};
        return trace_fmt_parse(val, &cfg->trace) ? bad_name(spec, n, fmts, 5, val) : CLI_OK;
    }
    if (!strcmp(n, "trace-file")) {
        if (!*val)
            return fail(spec, "--trace-file needs a path");
        cfg->trace_file = val;
        return CLI_OK;
    }
    if (!strcmp(n, "out-dir")) {
        if (!*val)
            return fail(spec, "--out-dir needs a path");
        cfg->out_dir = val;
        return CLI_OK;
    }
    if (!strcmp(n, "seed")) {
        uint64_t v;
        if (!parse_u64(val, &v))
            return fail(spec, "--seed needs a whole number from 0 to 2^64-1, got '%s'", val);
        cfg->seed = v;
        return CLI_OK;
    }
    if (!strcmp(n, "threads")) {
        size_t t;
        int rc = set_size(spec, n, val, 1024, &t);
        cfg->threads = (int)t;
        return rc;
    }
    if (!strcmp(n, "algo")) {
        for (const char *const *a = spec->algos; a && *a; a++)
            if (!strcmp(*a, val)) {
                cfg->algo = *a;
                return CLI_OK;
            }
        size_t na = 0;
        while (spec->algos && spec->algos[na])
            na++;
        return bad_name(spec, n, spec->algos, na, val);
    }
    if (!strcmp(n, "l2")) {
        l2_config c;
        char err[256], least[32];
        if (l2_config_parse(val, &c, err, sizeof err))   /* err escapes val already: say it here, escaped once */
            return fail(spec, "--l2 takes A100, H100, H200 or an L2 size from %s to 1 TiB like 50M, got '%s'",
                        fmt_bytes((uint64_t)L2_LINE_BYTES * L2_WAYS * L2_PARTITIONS, least, sizeof least), val);
        cfg->l2 = val;
        return CLI_OK;
    }
    if (!strcmp(n, "causal")) cfg->causal = true;
    else if (!strcmp(n, "count-only")) cfg->count_only = true;
    else if (!strcmp(n, "quiet")) cfg->quiet = true;
    else if (!strcmp(n, "step")) cfg->step = true;
    return CLI_OK;
}

int cli_parse(const cli_spec *spec, int argc, char **argv, cli_cfg *cfg)
{
    *cfg = spec->defaults;
    cfg->lesson = spec->name;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *val = NULL;
        const opt_def *o = NULL;
        char name[32];
        if (arg[0] == '-' && arg[1] == '-' && arg[2]) {                     /* --name or --name=value */
            const char *eq = strchr(arg + 2, '=');
            size_t len = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
            if (len >= sizeof name)
                return unknown_option(spec, arg);
            memcpy(name, arg + 2, len);
            name[len] = 0;
            for (size_t k = 0; k < sizeof OPTS / sizeof OPTS[0]; k++)
                if (!strcmp(OPTS[k].lng, name))
                    o = &OPTS[k];
            if (eq)
                val = eq + 1;
            for (size_t k = 0; !o && k < CLI_MAX_OWN && spec->own[k].name; k++)
                if (!strcmp(spec->own[k].name, name)) {                   /* one of the lesson's own */
                    if (!spec->own[k].meta) {                                 /* a flag */
                        if (val)
                            return fail(spec, "--%s takes no value", name);
                        cfg->own[k] = 1;
                        goto next;
                    }
                    if (!val && i + 1 >= argc)
                        return fail(spec, "--%s needs a value", name);
                    const cli_own_opt *w = &spec->own[k];
                    int rc = set_size(spec, w->name, val ? val : argv[++i], w->max, &cfg->own[k]);
                    if (rc != CLI_OK)
                        return rc;
                    if (cfg->own[k] < w->min)
                        return fail(spec, "--%s must be at least %zu, got %zu", w->name, w->min, cfg->own[k]);
                    goto next;
                }
        } else if (arg[0] == '-' && arg[1] && arg[1] != '-') {              /* -N 16 or -N16 */
            for (size_t k = 0; k < sizeof OPTS / sizeof OPTS[0]; k++)
                if (OPTS[k].shrt && OPTS[k].shrt == arg[1])
                    o = &OPTS[k];
            if (o && arg[2]) {
                if (!o->value)
                    return unknown_option(spec, arg);
                val = arg + 2;
            }
        } else {
            return fail(spec, "unexpected argument '%s'", arg);
        }
        if (!o || (o->needs && !(spec->extra & o->needs))) {
            if (o && o->needs == CLI_OPT_CAUSAL)
                return fail(spec, "--causal is not meaningful for %s", spec->name);
            if (o && o->needs == CLI_OPT_TRACE)
                return fail(spec, "--%s: %s writes no trace", o->lng, spec->name);
            return unknown_option(spec, arg);
        }
        if (!o->value && val)
            return fail(spec, "--%s takes no value", o->lng);
        if (o->value && !val) {
            if (i + 1 >= argc)
                return fail(spec, "--%s needs a value", o->lng);
            val = argv[++i];
        }
        if (!strcmp(o->lng, "help")) {
            usage(spec, stdout);
            return CLI_DONE;
        }
        if (!strcmp(o->lng, "version")) {
            printf("%s (flashlab) %s\n", spec->name, FLASHLAB_VERSION);
            return CLI_DONE;
        }
        int rc = apply(spec, o, val, cfg);
        if (rc != CLI_OK)
            return rc;
    next:;
    }
    if (cfg->Br > cfg->N)
        return fail(spec, "--block-rows %zu is larger than the sequence length N = %zu", cfg->Br, cfg->N);
    if (cfg->Bc > cfg->N)
        return fail(spec, "--block-cols %zu is larger than the sequence length N = %zu", cfg->Bc, cfg->N);
    if (cfg->trace_file && cfg->trace == TRACE_NONE)
        return fail(spec, "--trace-file needs --trace text, csv, json or html");
    if (cfg->trace == TRACE_HTML && !cfg->trace_file)   /* the lesson's own output would land inside the page */
        return fail(spec, "--trace html writes a page: give it a file, --trace-file lesson.html");
    return CLI_OK;
}

uint64_t cli_trace_limit(const cli_cfg *cfg)
{
    return cfg->trace_limit ? cfg->trace_limit : cfg->trace == TRACE_HTML ? TRACE_HTML_LIMIT : CLI_TRACE_LIMIT;
}

/* The command line as given, for the HTML replay's header (cli_main keeps it). */
static char command_line[512];

/* ---- the census: how big the trace would be, from a count-only dry run in a child process ----------------------- */

typedef struct {
    uint64_t bytes, events;
    uint32_t complete;   /* 0: the count stopped early, past the limit */
} census_result;

static struct {
    bool active;         /* in the child: cli_trace_open opens a census, not a file */
    int fd;              /* where the child sends its census_result */
    double start;
    uint64_t bytes, events;   /* of the traces already closed */
} census;

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static _Noreturn void census_report(uint64_t bytes, uint64_t events, bool complete)
{
    census_result r = {bytes, events, complete};
    ssize_t w = write(census.fd, &r, sizeof r);
    (void)w;   /* a short write reads as no estimate: the limit still holds while writing */
    _exit(0);
}

static void census_guard(trace_t *t, int err, void *ctx)
{
    (void)err, (void)ctx;
    if (seconds_now() - census.start > CLI_CENSUS_MAX_S)
        census_report(census.bytes + trace_bytes(t), census.events + trace_events(t), false);
}

/* Refuse, before anything runs, a trace that the dry run finds larger than --trace-limit. */
static void census_check(const cli_cfg *cfg, lesson_fn run)
{
    int fd[2];
    if (pipe(fd) != 0)
        return;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(fd[0]);
        close(fd[1]);
        return;
    }
    if (pid == 0) {
        close(fd[0]);
        int null = open("/dev/null", O_RDWR);
        if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0)
            _exit(FL_EXIT_INTERNAL);
        cli_cfg c = *cfg;
        c.count_only = c.quiet = true;
        c.step = false;
        census.active = true;
        census.fd = fd[1];
        census.start = seconds_now();
        run(&c);
        census_report(census.bytes, census.events, true);
    }
    close(fd[1]);
    census_result r;
    size_t got = 0;
    for (ssize_t n; got < sizeof r && (n = read(fd[0], (char *)&r + got, sizeof r - got)) != 0;)
        if (n > 0)
            got += (size_t)n;
        else if (errno != EINTR)
            break;
    close(fd[0]);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    if (got != sizeof r || r.bytes <= cli_trace_limit(cfg))
        return;   /* within the limit, or no estimate (the dry run failed: the real run will say why) */
    char b1[32], b2[32];
    if (r.complete)
        fl_fatal("--trace %s would write about %s (%llu events, counted by a count-only dry run), more than "
                 "--trace-limit %s; trace a smaller -N or fewer heads, or raise --trace-limit",
                 trace_fmt_name(cfg->trace), fmt_bytes(r.bytes, b1, sizeof b1), (unsigned long long)r.events,
                 fmt_bytes(cli_trace_limit(cfg), b2, sizeof b2));
    fl_fatal("--trace %s would write more than %s (a count-only dry run passed --trace-limit %s after %llu events "
             "and stopped counting); trace a smaller -N or fewer heads, or raise --trace-limit",
             trace_fmt_name(cfg->trace), fmt_bytes(r.bytes, b1, sizeof b1),
             fmt_bytes(cli_trace_limit(cfg), b2, sizeof b2), (unsigned long long)r.events);
}

int cli_main(const cli_spec *spec, int argc, char **argv, lesson_fn run)
{
    cli_cfg cfg;
    fl_set_progname(spec->name);
    size_t len = 0;
    for (int i = 0; i < argc && len + 2 < sizeof command_line; i++) {   /* 'quoted' when it needs it */
        const char *a = i ? argv[i] : spec->name, *q = strpbrk(a, " \t'\"$\\;&|<>*?") ? "'" : "";
        int n = snprintf(command_line + len, sizeof command_line - len, "%s%s%s%s%s", i ? " " : "./", q, a, q, "");
        len = n > 0 ? min_size(len + (size_t)n, sizeof command_line - 1) : len;
    }
    int parsed = cli_parse(spec, argc, argv, &cfg), rc = 0;
    if (parsed == CLI_ERROR)
        return FL_EXIT_USAGE;
    if (parsed == CLI_OK) {
        if (cfg.trace != TRACE_NONE)
            census_check(&cfg, run);
        if (cfg.trace_file)   /* a trace file that cannot be made stops us now, not after pages of output */
            outfile_probe(cfg.trace_file);
        rc = run(&cfg);
    }
    outfile_check_stdout();
    return rc;
}

/* ---- the trace a lesson writes --------------------------------------------------------------------------------- */

/* The open traces' files, for the guard and cli_trace_close (a lesson has one trace; room for a few). */
typedef struct {
    trace_t *t;
    outfile *o;            /* NULL: stdout */
    char where[256];       /* "'path'" or "standard output", for messages */
    uint64_t limit;
} open_trace;
static open_trace traces[4];

static void trace_trouble(trace_t *t, int err, void *ctx)
{
    open_trace *ot = ctx;
    char b1[32];
    if (err)
        outfile_fail("cannot write the trace to %s: %s", ot->where, strerror(err));
    if (ot->o)
        outfile_abort(ot->o);
    fl_fatal("the trace reached --trace-limit %s after %llu events and was stopped%s; trace a smaller -N or "
             "fewer heads, or raise --trace-limit", fmt_bytes(ot->limit, b1, sizeof b1),
             (unsigned long long)trace_events(t), ot->o ? " (its file is removed)" : "");
}

/* The HTML replay's header: the lesson, its command line and the options that shape the run. */
static void trace_describe(trace_t *t, const cli_cfg *cfg)
{
    char buf[256];
    trace_meta(t, "lesson", cfg->lesson);
    if (*command_line)
        trace_meta(t, "command", command_line);
    char M[48] = "the device's";   /* lesson08: M = 0 asks the GPU */
    if (cfg->M_bytes)
        snprintf(M, sizeof M, "%zu bytes", cfg->M_bytes);
    snprintf(buf, sizeof buf, "N=%zu d=%zu B=%zu H=%zu M=%s, %s%s%s%s%s", cfg->N, cfg->d, cfg->B, cfg->H, M,
             dtype_name(cfg->dtype), cfg->causal ? ", causal" : "", cfg->count_only ? ", count-only" : "",
             cfg->algo ? ", algo " : "", cfg->algo ? cfg->algo : "");
    trace_meta(t, "options", buf);
}

trace_t *cli_trace_open(const cli_cfg *cfg, mem_t *m)
{
    if (cfg->trace == TRACE_NONE)
        return NULL;
    uint64_t limit = cli_trace_limit(cfg);
    if (census.active) {
        trace_t *t = trace_open(m, cfg->trace, NULL);
        trace_guard(t, limit > census.bytes ? limit - census.bytes : 1, census_guard, NULL);
        return t;
    }
    open_trace *ot = NULL;
    for (size_t i = 0; i < sizeof traces / sizeof traces[0] && !ot; i++)
        if (!traces[i].t)
            ot = &traces[i];
    if (!ot)
        fl_internal("more than %zu traces open at once", sizeof traces / sizeof traces[0]);
    ot->o = cfg->trace_file ? outfile_open(cfg->trace_file) : NULL;
    if (cfg->trace_file)
        snprintf(ot->where, sizeof ot->where, "'%s'", cfg->trace_file);
    else
        snprintf(ot->where, sizeof ot->where, "standard output");
    ot->limit = limit;
    ot->t = trace_open(m, cfg->trace, ot->o ? outfile_stream(ot->o) : stdout);
    trace_guard(ot->t, limit, trace_trouble, ot);
    trace_describe(ot->t, cfg);
    return ot->t;
}

void cli_trace_close(const cli_cfg *cfg, trace_t *t)
{
    (void)cfg;
    if (!t)
        return;
    if (census.active) {
        census.bytes += trace_bytes(t);
        census.events += trace_events(t);
        trace_close(t);
        return;
    }
    open_trace *ot = NULL;
    for (size_t i = 0; i < sizeof traces / sizeof traces[0]; i++)
        if (traces[i].t == t)
            ot = &traces[i];
    if (!ot)
        fl_internal("cli_trace_close of a trace cli_trace_open did not open");
    ot->t = NULL;
    if (trace_close(t) != 0)
        outfile_fail("cannot write the trace to %s: %s", ot->where, strerror(errno));
    if (ot->o)
        outfile_commit(ot->o);
}

static bool pause_off;   /* 'c' at a --step prompt: run on without pausing */

void cli_pause(const cli_cfg *cfg, const char *prompt)
{
    if (!cfg->step || pause_off || !isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))
        return;
    printf("%s [Enter: next, c: run to the end, q: quit] ", prompt ? prompt : "");
    fflush(stdout);
    int c, first = getchar();
    for (c = first; c != '\n' && c != EOF; c = getchar())
        ;
    if (first == 'c' || first == 'C')
        pause_off = true;
    if (first == 'q' || first == 'Q' || first == EOF) {   /* EOF: Ctrl-D, the terminal's end of input */
        printf("%s: stopped at your request (q at a --step prompt); no summary line\n", cfg->lesson);
        outfile_check_stdout();
        exit(FL_EXIT_OK);
    }
}
