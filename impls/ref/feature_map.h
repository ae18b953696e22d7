/* feature_map.h — the feature map of linear attention (Katharopoulos et al.
 * 2020), phi(x) = elu(x) + 1, written once for the ref files and the probe.
 *
 * elu(x) + 1 is x + 1 for x > 0 and exp(x) for x <= 0: positive everywhere,
 * so the attention weights phi(q).phi(k) are positive and the normaliser
 * phi(q).z never vanishes. Double precision, as the oracle needs.
 */
#ifndef CB_FEATURE_MAP_H
#define CB_FEATURE_MAP_H

#include <math.h>

static inline double cb_phi(double x) { return x > 0.0 ? x + 1.0 : exp(x); }

#endif
