/* t_relerr.c — the probes' error measure (impls/common/relerr.h): max |x − y|
 * over max |y|, NaN whenever a NaN appears anywhere or both sides are zero, so
 * no equivalence check can pass on a broken or empty output. */
#include <math.h>

#include "common/relerr.h"
#include "tap.h"

int main(void)
{
    tap_plan(8);
    const double y[4] = {1, -4, 2, 0};
    const double x[4] = {1.5, -4, 2, 0.25};
    ok(cb_rel_err_dd(x, y, 4) == 0.5 / 4, "max |x-y| / max |y| = 0.125 (got %g)", cb_rel_err_dd(x, y, 4));
    const float xf[4] = {1.5f, -4, 2, 0.25f}, yf[4] = {1, -4, 2, 0};
    ok(cb_rel_err_fd(xf, y, 4) == 0.125 && cb_rel_err_ff(xf, yf, 4) == 0.125, "float forms agree");
    /* A NaN early, then larger finite errors: the old `if (!(d <= e)) e = d`
     * loop forgot it. */
    const double xn[4] = {NAN, 10, 20, 30};
    ok(isnan(cb_rel_err_dd(xn, y, 4)), "a NaN in the output before larger errors stays NaN");
    const double yn[4] = {1, NAN, 2, 3};
    ok(isnan(cb_rel_err_dd(x, yn, 4)), "a NaN in the reference gives NaN");
    const float xfn[4] = {1, 2, NAN, 4};
    ok(isnan(cb_rel_err_fd(xfn, y, 4)) && isnan(cb_rel_err_ff(xfn, yf, 4)), "float forms keep NaN too");
    const double z[3] = {0, 0, 0};
    ok(isnan(cb_rel_err_dd(z, z, 3)), "all-zero output against an all-zero reference is NaN, not 0");
    ok(isinf(cb_rel_err_dd(x, z, 3)), "a nonzero output against an all-zero reference is inf");
    const double xi[2] = {INFINITY, 0}, yi[2] = {1, 1};
    ok(isinf(cb_rel_err_dd(xi, yi, 2)), "an infinite output gives inf");
    return tap_done();
}
