/*
 * explain_reply — an explanation (explain.h) as reply JSON, for any reply
 * that carries predictions (/v1/predict):
 *
 *   {"method": "shapley", "reference": "training",
 *    "sales_baseline": 5.91, "exposure_baseline": -1.02,
 *    "contributions": [{"feature": "regular_price", "sales": -0.31, "exposure": 0.02}, ...]}
 *
 * contributions: one per feature, sorted by absolute sales contribution
 * (largest first; ties in the model's feature order), on the network's
 * output scale (the transformed sales target, the exposure logit), numbers
 * to PREDICT_DIGITS significant digits.
 *
 * Thread-safety: x is the caller's (one per request).
 */
#ifndef SHELFCAST_EXPLAIN_REPLY_H
#define SHELFCAST_EXPLAIN_REPLY_H

#include "shelfcast/explain.h"
#include "shelfcast/strbuf.h"

/* Explain encoded row `row` (level slots zero) at level index `level` and append the object. */
void explain_reply_write(struct strbuf *sb, struct explain_model *x, const float *row, int level);

#endif
