/* t_test_cmp.c — the tests' difference measure (test_cmp.h) keeps every NaN:
 * the loop it replaced forgot a NaN as soon as a finite difference followed,
 * so these cases are the ones that loop got wrong. */
#include "tap.h"
#include "test_cmp.h"

#include <math.h>

int main(void)
{
    tap_plan(10);
    const float zero[3] = {0, 0, 0};
    const double zerod[3] = {0, 0, 0};
    const float nan_first[3] = {NAN, 1, 2}, nan_last[3] = {1, 2, NAN}, fin[3] = {1, -3, 2};
    const double nan_d[3] = {0, NAN, 0};

    ok(isnan(test_max_diff_ff(nan_first, zero, 3)), "ff: a NaN before finite differences is kept");
    ok(isnan(test_max_diff_ff(nan_last, zero, 3)), "ff: a NaN in the last element is kept");
    ok(isnan(test_max_diff_ff(zero, nan_first, 3)), "ff: a NaN on the reference side is kept");
    ok(test_max_diff_ff(fin, zero, 3) == 3, "ff: max |a - b| = 3 for {1, -3, 2} against 0");
    ok(test_max_diff_ff(fin, fin, 3) == 0, "ff: equal arrays differ by 0");
    ok(test_max_diff_ff(fin, zero, 0) == 0, "ff: no elements, difference 0");
    ok(isinf(test_max_diff_ff((const float[]){INFINITY, 0}, zero, 2)), "ff: an Inf difference is Inf");
    ok(isnan(test_max_diff_fd(nan_first, zerod, 3)), "fd: a NaN before finite differences is kept");
    ok(isnan(test_max_diff_fd(fin, nan_d, 3)), "fd: a NaN in the double reference is kept");
    ok(test_max_diff_fd(fin, zerod, 3) == 3, "fd: max |a - b| = 3 for {1, -3, 2} against 0");
    return tap_done();
}
