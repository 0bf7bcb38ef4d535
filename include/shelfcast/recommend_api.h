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
 * a bad item fails the request.
 *
 * Thread-safety: no shared state; the model is shared and read-only.
 */
#ifndef SHELFCAST_RECOMMEND_API_H
#define SHELFCAST_RECOMMEND_API_H

#include <stdbool.h>
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
 * predlog_rollback.  log NULL: no ids.  sc (a worker's, predict_api.h):
 * first the stricter parser of reqparse.h with sc's feature hints, which
 * gives up, having written and logged nothing, whenever it is not sure the
 * request means what jansson makes of it or the request fails; then
 * jansson decides.  Both answer byte for byte alike.  sc NULL: jansson.
 */
struct predlog_writer;
enum error_code recommend_api_run_logged(struct predict_api_scratch *sc, const char *body, size_t len,
					 const struct predict_limits *lim, predict_resolve_fn resolve, void *ctx,
					 struct predlog_writer *log, struct strbuf *reply,
					 struct predict_outcome *outcome, struct error *err);

/*
 * The fast path of recommend_api_run_logged alone: reqparse's tape and sc's
 * hints instead of jansson.  False when it gives up (reply left empty;
 * what it logged, the caller rolls back): whenever it is not sure the
 * request means exactly what the jansson path makes of it, or the request
 * fails before every item is read (the jansson path then says why).  True
 * when it decided: *rc is the answer, ERROR_OK with the reply, or the
 * error the jansson path would set, in err, once every item is read (the
 * search's own refusals: a price range, a missing unit cost), without
 * searching the items again.  outcome as above.
 */
bool recommend_api_run_fast(struct predict_api_scratch *sc, const char *body, size_t len,
			    const struct predict_limits *lim, predict_resolve_fn resolve, void *ctx,
			    struct predlog_writer *log, struct strbuf *reply, struct predict_outcome *outcome,
			    enum error_code *rc, struct error *err);

#endif
