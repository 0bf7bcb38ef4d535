/*
 * recommend_search — one item's price x level search, and the memory the
 * searches of a recommend_run call share (recommend.h describes the search;
 * recommend.c confirms its options through the prediction path and answers).
 *
 * Thread-safety: a struct recommend_work belongs to one call; the model is
 * shared and read-only.
 */
#ifndef SHELFCAST_RECOMMEND_SEARCH_H
#define SHELFCAST_RECOMMEND_SEARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shelfcast/encoder.h"
#include "shelfcast/error.h"
#include "shelfcast/model.h"
#include "shelfcast/predict.h"
#include "shelfcast/recommend.h"

struct recommend_cand; /* a scored (price, level) of one item */

/* The memory of a call, sized for its largest round. */
struct recommend_work {
	const struct model *m;
	const struct spec *spec;
	size_t d, H, K;
	float *x, *h0, *scratch, *y;
	float *hp;              /* (H) h0 plus a level's column (a sweep's start), or the price's (dense rows) */
	float *s;               /* (the model's n_price_in) the price's inputs of the row being scored */
	float *act;             /* (max_rows, its width) a round's second layer (sweeps) or first (dense rows) */
	struct mlp_sweep *sweep; /* (K) each level's, started for each item; NULL where the model's plan is
				    not available (dense rows) */
	struct recommend_cand *rows;      /* what each row of a round is */
	struct recommend_cand *pool;      /* the first round's feasible candidates and each level's best */
	double *grid;           /* (K, RECOMMEND_GRID) the first round's values, NAN where infeasible */
	double *expected, *exposure; /* (max_rows) a round's heads */
	uint32_t *defaulted, *clipped; /* the encoder report, which makes it refuse a log input <= 0 */
	size_t max_rows;
	void *block;            /* every array above, in one allocation */
	struct predict_batch batch; /* for the confirmation */
};

/* Size w for model m and a call of n items (the confirmation's batch: min(n, the model's tile)). */
enum error_code recommend_work_init(struct recommend_work *w, const struct model *m, size_t n,
				    struct error *err);
void recommend_work_done(struct recommend_work *w);

/* Every input reading the price column of values set to the number p. */
void recommend_set_price(const struct recommend_work *w, struct encoder_value *values, double p);

/*
 * The price side (recommend_price.c).  The margin (effective price - c) /
 * effective price of price p at level k (NAN without a unit cost c): the
 * reply's and the constraint's.  The lowest price of level k that leaves
 * margin m, c / ((1 - m)(1 - discount)) (0 when there is no such bound; the
 * margin computed there can round below m: recommend_printed_price raises
 * a price that it does).
 */
double recommend_margin(const struct spec *spec, size_t k, double c, double p);
double recommend_margin_floor(const struct spec *spec, size_t k, double c, double m);
/*
 * Price p of level k as the reply prints it (with an ending: its decimal at
 * RECOMMEND_PRICE_DIGITS; otherwise PREDICT_DIGITS), within [lo, hi] and
 * keeping margin m on unit cost c as the reply computes it; p when it cannot.
 */
double recommend_printed_price(const struct spec *spec, size_t k, double c, double m, double p, double lo,
			       double hi, bool ending);
/* Item i's price range into ans->lo, ans->hi (and beyond_training); an error names items[i].price. */
enum error_code recommend_price_range(const struct model *m, const struct recommend_ask *a, size_t i,
				      struct recommend_answer *ans, struct error *err);
/* Item i's unit cost: asked (also set as the model's unit-cost feature when missing), else that feature's, else NAN. */
double recommend_item_unit_cost(const struct model *m, struct recommend_ask *a);

/*
 * Search item i (the error names items[i]...): ans gets its range, its
 * unit cost, feasibility or the reason, and the options' prices (printed)
 * and levels, best first, not yet confirmed.
 */
enum error_code recommend_search_item(struct recommend_work *w, struct recommend_ask *a, size_t i,
				      const struct recommend_params *p, struct recommend_answer *ans,
				      struct error *err);

#endif
