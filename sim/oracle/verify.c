/* verify.c — compare against a double-precision reference, NaN always failing (see include/oracle/verify.h). */
#include "verify.h"

#include <math.h>

bool verify_close(const double *ref, const float *got, size_t n, double atol, double rtol, const char *name,
                  verify_stats *st, FILE *log)
{
    verify_stats s = {0, 0, 0, 0, 0, true};
    for (size_t i = 0; i < n; i++) {
        double g = got[i], r = ref[i], err;
        bool bad;
        if (isnan(g)) {
            s.nan++;
            err = INFINITY;
            bad = true;
        } else if (isinf(g) || isinf(r)) {
            bad = !(g == r);
            err = bad ? INFINITY : 0.0;
        } else {
            err = fabs(g - r);
            bad = !(err <= atol + rtol * fabs(r));
            if (r != 0 && err / fabs(r) > s.max_rel)
                s.max_rel = err / fabs(r);
        }
        if (err > s.max_abs) {
            s.max_abs = err;
            s.worst = i;
        }
        if (bad) {
            if (log && s.bad < VERIFY_SHOW)
                fprintf(log, "  %s[%zu]: got %.9g, want %.9g (abs err %.3g, allowed %.3g)\n", name, i, g, r, err,
                        atol + rtol * fabs(r));
            s.bad++;
        }
    }
    s.ok = s.bad == 0;
    if (log)
        fprintf(log, "  %s: %zu elements, max abs err %.3g at [%zu], max rel err %.3g, %zu NaN, %zu bad -> %s\n",
                name, n, s.max_abs, s.worst, s.max_rel, s.nan, s.bad, s.ok ? "OK" : "FAIL");
    if (st)
        *st = s;
    return s.ok;
}

double verify_max_abs(const double *ref, const float *got, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(got[i]))
            return NAN;
        double e = fabs((double)got[i] - ref[i]);
        if (isnan(e))      /* inf - inf: the same infinity is no error */
            e = 0;
        if (e > m)
            m = e;
    }
    return m;
}

double verify_tridao_bound(double err_baseline, double slack) { return ORACLE_TRIDAO_FACTOR * err_baseline + slack; }

bool verify_tridao(double err_ours, double err_baseline) { return err_ours <= verify_tridao_bound(err_baseline, 0); }
