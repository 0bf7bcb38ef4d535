/*
 * recommend_api — the /v1/recommend wire format: a request body in, a
 * reply body out, through the search of recommend.h.
 *
 *   {"model": "...", "objective": "revenue"|"units"|"profit",
 *    "alternatives": 0..10, "price_ending": 0.99,
 *    "items": [{"id": ..., "features": {...}, "unit_cost": 1.2,
 *               "price": {"min": 1.99, "max": 3.49}, "levels": [0, 1, 2],
 *               "min_margin": 0.25, "min_exposure_probability": 0.4}, ...]}
 *
 *   {"model": {"name", "version"}, "objective": "...",
 *    "recommendations": [{"id"?, "feasible": true, "price", "promotion_level",
 *       "effective_price", "predicted_sales", "expected_sales",
 *       "exposure_probability", "predicted_sales_interval"?,
 *       "expected_<objective>", "margin"?, "unit_cost"?, "at_price_bound",
 *       "extrapolated", "searched": {"min", "max", "beyond_training"},
 *       "alternatives"?: [{"price", "promotion_level", ...}]}
 *     | {"id"?, "feasible": false, "reason", "searched"?}, ...]}
 *
 * Every field is checked and a bad one is a 422 naming it (docs/api.md);
 * a bad item fails the request.  Jansson reads the body (the search, not
 * the parse, is a recommendation's cost).
 *
 * Thread-safety: no shared state; the model is shared and read-only.
 */
#ifndef SHELFCAST_RECOMMEND_API_H
#define SHELFCAST_RECOMMEND_API_H

#include <stddef.h>

#include "shelfcast/error.h"
#include "shelfcast/predict_api.h"
#include "shelfcast/strbuf.h"

/*
 * Handle a /v1/recommend body: the reply JSON appended to reply, or err
 * set and reply left empty (ERROR_PARSE, ERROR_INVALID naming the field,
 * ERROR_TOO_LARGE for more than lim->max_items items or lim->max_memory
 * bytes, ERROR_NOT_FOUND, ERROR_UNAVAILABLE, ERROR_NOMEM).  outcome->model
 * and outcome->items say what answered, as for /v1/predict.
 */
enum error_code recommend_api_run(const char *body, size_t len, const struct predict_limits *lim,
				  predict_resolve_fn resolve, void *ctx, struct strbuf *reply,
				  struct predict_outcome *outcome, struct error *err);

/*
 * The same, and every feasible recommendation carries a "prediction_id"
 * (first member) under which its chosen option is logged by log
 * (predlog.h: the item's features with the price column set to the chosen
 * price, the level, the price, the numbers answered).  The caller brackets
 * the call with predlog_begin and predlog_commit (a reply sent) or
 * predlog_rollback.  log NULL: recommend_api_run.
 */
struct predlog_writer;
enum error_code recommend_api_run_logged(const char *body, size_t len, const struct predict_limits *lim,
					 predict_resolve_fn resolve, void *ctx, struct predlog_writer *log,
					 struct strbuf *reply, struct predict_outcome *outcome,
					 struct error *err);

#endif
