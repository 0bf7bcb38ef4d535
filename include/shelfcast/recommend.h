/*
 * recommend — the launch price and promotion level that maximise an
 * objective for an item, under the merchant's constraints, from the model's
 * expected (mean) units.  Shared by POST /v1/recommend (recommend_api.h)
 * and the offline `shelfcast recommend`, so both give the same numbers.
 *
 * The search, for one item:
 *   - the price range [lo, hi]: the bounds asked for, each defaulting to
 *     that end of the price column's training range (its winsorizing
 *     bounds);
 *   - per allowed level, a minimum margin m on a unit cost c is the lower
 *     price bound p (1 - discount) >= c / (1 - m) (exact: no candidate
 *     below it is scored);
 *   - the first layer of the network is linear in its inputs, so its
 *     pre-activation is computed once for the item without the price's
 *     inputs, plus each level's weight column; along the price each
 *     level's rows lie on one line (one direction per price input), and
 *     the second layer follows them in a sweep (mlp_sweep.h: per row, the
 *     first layer's signs and the second layer's pre-activation from (1 +
 *     P) vectors, a column's more when a first-layer unit switches); the
 *     layers after it run over every row of a round in one batched pass
 *     (mlp_forward_search_from; from layer 1, the dense rows, where the
 *     CPU has no AVX2 for the sweep);
 *   - round one scores RECOMMEND_GRID evenly spaced prices per level, from
 *     its margin floor (or lo) to hi.  Round two starts from
 *     RECOMMEND_STARTS of its points: the best of each of the
 *     RECOMMEND_LEAD_LEVELS best levels, then the best other local maxima
 *     over every level.  Around each, the midpoints to its neighbours and
 *     the vertex of the parabola through the three when it curves down;
 *     then RECOMMEND_HALVINGS rounds of the points half a spacing either
 *     side of each start's best, the spacing halved each round (1/1,888 of
 *     the range at the end);
 *   - with a price ending e (0.99, say) the candidates are the prices n + e
 *     in the range: all of them when there are at most RECOMMEND_GRID per
 *     level, else RECOMMEND_GRID spread over them, then rounds of
 *     2 * RECOMMEND_REFINE around each level's best at an eighth of the
 *     last spacing until every candidate near it is scored;
 *   - a candidate is feasible when its exposure probability is at least
 *     the minimum asked for (with a 1e-6 guard for the confirmation below);
 *     the chosen one has the highest objective value (ties: the lower
 *     level, then the lower price);
 *   - alternatives: the next best feasible candidates of round one, of
 *     each level's best and of each start's refined best, no two printed
 *     alike;
 *   - each option's price is what the reply prints (with an ending the
 *     decimal n + ending, RECOMMEND_PRICE_DIGITS; otherwise PREDICT_DIGITS
 *     significant digits), kept inside the range and the margin bound
 *     (raised a printed unit when the margin there rounds below it),
 *     and the option is scored again through the prediction path
 *     (predict.h), items in request order a tile at a time as /v1/predict
 *     scores them: its numbers are what /v1/predict answers for the same
 *     features at that price and promotion_level, digit for digit.  An
 *     option whose rescored numbers break the exposure minimum or the
 *     margin is dropped for the next; the rest are ranked again.
 *
 * Thread-safety: the model is shared and read-only; the asks and answers
 * belong to the caller.
 */
#ifndef SHELFCAST_RECOMMEND_H
#define SHELFCAST_RECOMMEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shelfcast/encoder.h"
#include "shelfcast/error.h"
#include "shelfcast/model.h"
#include "shelfcast/spec.h"

#define RECOMMEND_MAX_ALTERNATIVES 10
/*
 * Significant digits a recommended price is printed with: a price with an
 * ending is the decimal n + ending (123499.99 needs 8), any other price is
 * rounded to PREDICT_DIGITS first, and %g prints no trailing zeros.
 */
#define RECOMMEND_PRICE_DIGITS 15
/* Options an answer holds: the chosen one, the alternatives, and two stand-ins should one fail its confirmation. */
#define RECOMMEND_MAX_OPTIONS (1 + RECOMMEND_MAX_ALTERNATIVES + 2)
#define RECOMMEND_GRID 60
#define RECOMMEND_STARTS 4
#define RECOMMEND_LEAD_LEVELS 2
#define RECOMMEND_REFINE 8
#define RECOMMEND_HALVINGS 4

/* One item's question (the caller has checked each value's range). */
struct recommend_ask {
	struct encoder_value *values; /* (encoder_n_inputs) its features; the price's inputs are overwritten */
	double unit_cost;             /* NAN: the model's unit-cost feature, if any */
	double price_min, price_max;  /* NAN: the end of the training range */
	uint64_t levels;              /* bit k: level index k allowed; 0: every level */
	double min_margin;            /* in [0, 1), or NAN: none */
	double min_exposure;          /* in [0, 1], or NAN: none */
};

struct recommend_params {
	enum spec_objective objective;
	size_t alternatives;          /* <= RECOMMEND_MAX_ALTERNATIVES */
	double price_ending;          /* in [0, 1), or NAN: any price */
};

struct recommend_option {
	double price, effective_price; /* effective: price * (1 - the level's discount) */
	int level;                     /* level index */
	double sales, expected, exposure; /* predicted (centre) and expected units, exposure probability */
	double value;                  /* the objective, from the expected units */
	double margin;                 /* (effective - unit cost) / effective; NAN without a unit cost */
	float y_sales;                 /* the sales output, for the interval (heads_interval) */
	double halfwidth;              /* the interval's at the spec's coverage (its category's, if by one) */
	bool at_bound;                 /* the range's first or last candidate price */
};

struct recommend_answer {
	bool feasible;
	char reason[256];              /* why not, when !feasible */
	double lo, hi;                 /* the searched range */
	bool beyond_training;          /* it reaches outside the price's training range */
	bool at_price_bound;           /* the chosen price is the first or the last candidate */
	bool extrapolated;             /* the chosen price is outside the training range */
	double unit_cost;              /* what profit and margin used; NAN: none */
	size_t n;                      /* options: [0] the chosen one, then the alternatives (then the
					  stand-ins, until recommend_run is done) */
	struct recommend_option opt[RECOMMEND_MAX_OPTIONS];
};

/* An ask's options, for recommend_ask_check. */
enum recommend_ask_field {
	RECOMMEND_ASK_OK,
	RECOMMEND_ASK_UNIT_COST,
	RECOMMEND_ASK_PRICE_MIN,
	RECOMMEND_ASK_PRICE_MAX,
	RECOMMEND_ASK_MIN_MARGIN,
	RECOMMEND_ASK_MIN_EXPOSURE,
};

/*
 * The first of a's options a recommendation refuses, and in *why a phrase
 * saying why ("a unit cost cannot be negative"); RECOMMEND_ASK_OK when every
 * one is acceptable (NAN: absent).  The rules of /v1/recommend and
 * `shelfcast recommend` alike: each names the field its own way.
 */
enum recommend_ask_field recommend_ask_check(const struct recommend_ask *a, const char **why);

/* The price column's training range (the clip of its untransformed input); false when it has none. */
bool recommend_training_range(const struct model *m, double *lo, double *hi);

/*
 * Answer n asks (out: n answers).  Errors, each naming the item's field
 * with the prefix items[i]: a feature the encoder refuses
 * (items[i].features.<name>), no price range (items[i].price: the model
 * has no training range and a bound is missing, or min > max after
 * defaulting), no unit cost where profit or a margin needs one
 * (items[i].unit_cost); ERROR_NOMEM.  An item no candidate satisfies is
 * an answer (feasible false, with the reason), not an error.
 */
enum error_code recommend_run(const struct model *m, struct recommend_ask *asks, size_t n,
			      const struct recommend_params *p, struct recommend_answer *out,
			      struct error *err);

/*
 * An item's encoded row at `price` (level slots zero), its price inputs set
 * in values: what an option's explanation explains (explain_reply.h).
 * row: input_size floats.  The encoder's errors, naming field_prefix.
 */
enum error_code recommend_option_row(const struct model *m, struct encoder_value *values, double price,
				     float *row, const char *field_prefix, struct error *err);

#endif
