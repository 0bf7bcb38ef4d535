/*
 * predict_reply — the /v1/predict reply, written while items are scored a
 * tile at a time (predict_tile_items): each full tile is scored and its
 * predictions appended before the next is encoded, so a request's working
 * memory is one tile whatever its item count and the model's width.
 *
 *   {"model": {"name", "version"},
 *    "predictions": [{"id"?, "promotion_level", "predicted_sales",
 *                     "exposure_probability", "recommended_promotion_level",
 *                     "unknown"?: [feature, ...],
 *                     "explanation"?: {...} (explain_reply.h),
 *                     "levels"?: [{"level", "predicted_sales", "exposure_probability",
 *                                  "expected_<objective>"}, ...]}, ...]}
 *
 * Use: predict_reply_begin; per item, encode into slot predict_reply_slot
 * of r->batch (predict_batch_set) and predict_reply_push; predict_reply_end.
 *
 * Thread-safety: a struct predict_reply belongs to one request.
 */
#ifndef SHELFCAST_PREDICT_REPLY_H
#define SHELFCAST_PREDICT_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shelfcast/error.h"
#include "shelfcast/model.h"
#include "shelfcast/predict.h"
#include "shelfcast/strbuf.h"

struct item_errors;
struct predlog_writer;

/* An item's id as the reply echoes it. */
enum predict_id_kind { PREDICT_ID_NONE = 0, PREDICT_ID_STRING, PREDICT_ID_INTEGER };

struct predict_id {
	enum predict_id_kind kind;
	const char *s;   /* PREDICT_ID_STRING: unescaped bytes, borrowed until the item's tile is written */
	size_t len;
	long long i;     /* PREDICT_ID_INTEGER */
	size_t index;    /* the item's index in the request (named by its errors) */
	/* the item's features for the prediction log: JSON text as sent, else a jansson object;
	   borrowed until the item's tile is written */
	const char *features;
	size_t features_len;
	const struct json_t *features_json;
};

struct predict_reply {
	const struct model *m;
	enum spec_objective objective;
	bool include_levels;
	struct strbuf *out;
	struct predict_batch batch;   /* one tile */
	struct predict_id *ids;       /* (tile) */
	size_t tile, fill;            /* items per tile, in the current tile */
	size_t emitted;               /* predictions written (items scored less those left out) */
	struct item_errors *errors;   /* set: an item whose output is not finite is noted here and left
					 out; NULL: it fails the reply */
	uint32_t *unknown_counts;     /* (n_categorical) unknown values per feature: new, NULL until one */
	void *own;                    /* what begin allocated (mem NULL), freed by done */
	struct explain_model *explain; /* set by predict_reply_explain: every prediction explained */
	double interval;              /* the coverage of predicted_sales_interval (the spec's by default) */
	double halfwidth;             /* its conformal half-width, transformed units (heads.h) */
	struct predlog_writer *log;   /* set: every prediction gets a "prediction_id" and is logged
					 (predlog.h); NULL: neither */
};

/* Bytes predict_reply_begin needs for model m when the caller provides them. */
size_t predict_reply_bytes(const struct model *m);

/*
 * The members an item's reply opens with, each followed by a comma:
 * "prediction_id" (its text, when log_id is not NULL), then "id" when the
 * item has one.  Both routes' replies.
 */
void predict_reply_write_ids(struct strbuf *sb, const char *log_id, const struct predict_id *id);

/*
 * Start the reply, appended to out.  mem: predict_reply_bytes(m) bytes the
 * caller keeps until predict_reply_done, 64-byte aligned, or NULL to
 * allocate them.
 */
enum error_code predict_reply_begin(struct predict_reply *r, const struct model *m,
				    enum spec_objective objective, bool include_levels,
				    struct strbuf *out, void *mem, struct error *err);

/*
 * Explain every prediction of this reply (an "explanation" member, written
 * by explain_reply.h).  Right after begin.  ERROR_INVALID naming "explain"
 * when the model has no reference rows, ERROR_NOMEM.
 */
enum error_code predict_reply_explain(struct predict_reply *r, struct error *err);

/*
 * Intervals of this coverage in (0, 1) instead of the model's default (a
 * table lookup; call before the first push).  A model trained without
 * calibration writes no predicted_sales_interval.
 */
void predict_reply_set_interval(struct predict_reply *r, double coverage);

/* The slot of r->batch the next item is encoded into. */
static inline size_t predict_reply_slot(const struct predict_reply *r)
{
	return r->fill;
}

/*
 * The item in the slot is encoded: keep its id, and when the tile is full,
 * score it and write its predictions.  Fails with ERROR_INVALID naming the
 * item (items[i]) when the model's output for it is not a finite number,
 * ERROR_NOMEM when the reply cannot grow.
 */
enum error_code predict_reply_push(struct predict_reply *r, const struct predict_id *id,
				   struct error *err);

/* Score and write the last tile, close the reply.  The same errors as push. */
enum error_code predict_reply_end(struct predict_reply *r, struct error *err);

/* Predictions written so far. */
static inline size_t predict_reply_items(const struct predict_reply *r)
{
	return r->emitted;
}

/* Free what begin allocated (not the caller's mem, not unknown_counts once taken). Accepts a zeroed struct. */
void predict_reply_done(struct predict_reply *r);

#endif
