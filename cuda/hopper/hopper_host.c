/* hopper_host.c — one configuration of a Hopper kernel through fwd_host.h's harness (see hopper_host.h). */
#include "hopper_host.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "exitcode.h"
#include "hopper.h"   // defines: hp_versions, hp_nversions

int hp_run_case(const hp_case *c, hp_report *r, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    r->ms = r->tflops = NAN;
    if (c->version < 0 || c->version >= hp_nversions) {
        snprintf(err, errlen, "no Hopper version %d (0..%d)", c->version, hp_nversions - 1);
        return FL_EXIT_USAGE;
    }
    const tc_version *ver = &hp_versions[c->version];
    ver->blocks((int)c->d, c->causal, c->N, &r->Br, &r->Bc);
    if (!r->Br) {
        snprintf(err, errlen, "%s: head dimension d = %zu not supported", ver->name, c->d);
        return FL_EXIT_USAGE;
    }
    const tc_shape s = {c->B, c->N, c->H, c->d, c->dt};
    tc_problem *p;
    int rc = tc_problem_new(&s, c->seed, &p, err, errlen);
    if (rc)
        return rc;
    if (c->check_rows) {
        tc_ref *ref = tc_ref_new(p, c->causal, c->check_rows, c->seed + 7);
        rc = fwd_check(p, ref, ver, &r->check, err, errlen);
        tc_ref_free(ref);
    }
    if (!rc && c->count)
        rc = fwd_count(p, c->causal, ver, &r->counts, err, errlen);
    if (!rc && c->reps > 0 && !(rc = fwd_time_ms(p, c->causal, ver, c->warmup, c->reps, &r->ms, err, errlen)))
        r->tflops = tc_flops(&s, c->causal) / r->ms / 1e9;
    char ignored[8];
    int frc = tc_problem_free(p, rc ? ignored : err, rc ? sizeof ignored : errlen);   /* err keeps the first failure */
    return rc ? rc : frc;
}
