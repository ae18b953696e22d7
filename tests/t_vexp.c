/* t_vexp.c — the shared vectorizable exp (impls/common/vexp.h) and the
 * feature map φ(x) = elu(x) + 1 built on it, against libm in double. */
#include <float.h>
#include <math.h>

#include "common/elu1.h"
#include "common/vexp.h"
#include "tap.h"

/* Error in units of the last place of the float nearest the true value. */
static double ulps(float got, double want)
{
    float w = (float)want;
    double ulp = w == 0.0f ? (double)FLT_TRUE_MIN : (double)nextafterf(w, INFINITY) - (double)w;
    return fabs((double)got - want) / ulp;
}

int main(void)
{
    tap_plan(7);
    double worst = 0, worst_at = 0;
    for (long i = 0; i <= 10400000; i++) {   /* [-104, 0] in steps of 1e-5 */
        float t = (float)(-i * 1e-5);
        double u = ulps(cb_exp_nonpos(t), exp((double)t));
        if (u > worst) { worst = u; worst_at = t; }
    }
    ok(worst <= 2.0, "cb_exp_nonpos within 2 ulp on [-104, 0] (worst %.2f ulp at %g)", worst, worst_at);
    ok(cb_exp_nonpos(0.0f) == 1.0f, "e^0 = 1 exactly");
    ok(cb_exp_nonpos(-INFINITY) == 0.0f, "e^-inf = 0 (masked logits get weight 0)");
    ok(cb_exp_nonpos(-200.0f) == 0.0f && cb_exp_nonpos(-104.5f) == 0.0f, "below -104 the result is 0");
    ok(isnan(cb_exp_nonpos(NAN)), "NaN stays NaN");

    float x[7] = {-3.0f, -0.5f, 0.0f, 1e-8f, 0.25f, 7.0f, NAN}, y[7];
    cb_elu1_f32(x, y, 7);
    int good = 1;
    for (int i = 0; i < 6; i++) {
        double want = x[i] > 0 ? (double)x[i] + 1.0 : exp((double)x[i]);
        if (ulps(y[i], want) > 2.0) good = 0;
    }
    ok(good, "elu1: x + 1 above 0, e^x at or below 0, within 2 ulp");
    ok(isnan(y[6]), "elu1: NaN stays NaN");
    return tap_done();
}
