/*
 * recommend_reply — the /v1/recommend reply (recommend_api.h shows it) and
 * the prediction log's record of each chosen option, from the answers of
 * recommend_run, for items read by either of recommend_api's two parsers.
 *
 * Thread-safety: no shared state; the model is shared and read-only.
 */
#ifndef SHELFCAST_RECOMMEND_REPLY_H
#define SHELFCAST_RECOMMEND_REPLY_H

#include <stdbool.h>
#include <stddef.h>

#include "shelfcast/error.h"
#include "shelfcast/predict_reply.h"
#include "shelfcast/recommend.h"
#include "shelfcast/reqparse.h"
#include "shelfcast/strbuf.h"

/*
 * An item of the request, as either parser read it: its id (kind, s and
 * len, or i) and its features, for the log: the jansson path's object, or
 * the fast path's tape (rp and it).
 */
struct recommend_item_ref {
	struct predict_id id;
	const struct json_t *features;
	const struct reqparse *rp;
	const struct reqparse_item *it;
};

/* What the reply says besides the answers. */
struct recommend_reply_params {
	const struct model *m;
	enum spec_objective objective;
	bool alternatives;          /* list each item's alternatives */
	bool explain;               /* explain each chosen option */
	struct predlog_writer *log; /* NULL: no prediction ids */
};

/*
 * The reply to n items (refs, their asks and answers) appended to reply;
 * with a log, each feasible item's chosen option logged under the
 * prediction id it carries.  ERROR_NOMEM (reply's content then undefined).
 */
enum error_code recommend_reply_write(struct strbuf *reply, const struct recommend_reply_params *p,
				      const struct recommend_item_ref *refs, struct recommend_ask *asks,
				      const struct recommend_answer *answers, size_t n, struct error *err);

#endif
