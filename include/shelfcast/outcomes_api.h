/*
 * outcomes_api — the POST /v1/outcomes body (docs/api.md):
 *
 *   {"outcomes": [{"prediction_id": "...", "units": 1200, "exposed": true}, ...]}
 *
 * 1 to OUTCOMES_MAX outcomes; exposed is optional (absent or null: not
 * known).  Every field is checked before anything is recorded: the first
 * bad one fails the request, named (outcomes[3].units).
 *
 * Thread-safety: no shared state.
 */
#ifndef SHELFCAST_OUTCOMES_API_H
#define SHELFCAST_OUTCOMES_API_H

#include <stddef.h>

#include "shelfcast/error.h"
#include "shelfcast/outcomes.h"
#include "shelfcast/strbuf.h"

/*
 * Parse body into o (outcomes_init'ed by the caller).  ERROR_PARSE
 * (malformed JSON), ERROR_INVALID naming the field, ERROR_TOO_LARGE (more
 * than OUTCOMES_MAX), ERROR_NOMEM.
 */
enum error_code outcomes_api_parse(const char *body, size_t len, struct outcomes *o, struct error *err);

/* The reply: {"accepted": N, "unknown_prediction": N, "duplicate": N}, appended to out. */
void outcomes_api_reply(struct strbuf *out, const struct outcomes_counts *counts);

#endif
