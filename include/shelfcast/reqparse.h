/*
 * reqparse — a strict, allocation-light parser for the one hot JSON shape:
 * the /v1/predict request.
 *
 *   {"model": "...", "objective": "...", "include_levels": bool, "explain": bool,
 *    "interval": number|null,
 *    "items": [{"id": "..."|int|null, "features": {"k": number|string|null, ...},
 *               "promotion_level": int|null}, ...]}
 *
 * and, through reqparse_parse_recommend, the /v1/recommend request:
 *
 *   {"model", "objective", "explain" as above, "alternatives": int|null,
 *    "price_ending": number|null,
 *    "items": [{"id", "features" as above, "unit_cost": number|null,
 *               "price": {"min": number|null, "max": number|null}|null,
 *               "levels": [int, ...]|null, "min_margin": number|null,
 *               "min_exposure_probability": number|null}, ...]}
 *
 * jansson stays the reference: this parser accepts a strict subset of what
 * jansson accepts and answers REQPARSE_FALLBACK for anything else (escapes
 * in strings, another shape, a duplicate key among the fixed ones, a number
 * it cannot convert exactly as strtod would, any syntax error...).  The
 * caller then runs the jansson path, which either handles it or produces
 * the canonical error.  So this never changes what a request means; it only
 * makes the common request cheaper (bench/http: jansson's parse was most of
 * a request's cost).  Feature keys are not checked here; the caller does.
 *
 * Strings and keys point into the body (no escapes were allowed, so they
 * need no unescaping); UTF-8 is validated.
 *
 * Thread-safety: no shared state; a struct reqparse belongs to one thread
 * (the fast path keeps one per worker, its arrays reused by each parse).
 */
#ifndef SHELFCAST_REQPARSE_H
#define SHELFCAST_REQPARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum reqparse_result { REQPARSE_OK = 0, REQPARSE_FALLBACK };

enum reqparse_kind {
	REQPARSE_NONE = 0, /* absent or null */
	REQPARSE_INT,
	REQPARSE_REAL,
	REQPARSE_STRING,
};

struct reqparse_value {
	enum reqparse_kind kind;
	long long i;        /* REQPARSE_INT */
	double d;           /* REQPARSE_REAL; also the value of an INT */
	const char *s;      /* REQPARSE_STRING: into the body, not NUL-terminated */
	size_t len;
};

struct reqparse_feature {
	const char *key;    /* into the body */
	size_t key_len;
	bool expected;      /* the key is its hint's text (see struct reqparse_hint) */
	struct reqparse_value value;
};

struct reqparse_item {
	struct reqparse_value id;     /* NONE, INT or STRING */
	struct reqparse_value level;  /* NONE or INT */
	size_t first, count;          /* its features in the features array */
	bool has_features;
	const char *features_text;    /* the features object as sent, "{...}", into the body */
	size_t features_len;
	/* reqparse_parse_recommend's: the /v1/recommend item's options, each NONE (absent or null), INT or REAL */
	struct reqparse_value unit_cost, min_margin, min_exposure, price_min, price_max;
	size_t first_level, n_levels; /* "levels" in the levels array; n_levels 0: absent or null */
};

/*
 * What the caller expects an item's f-th feature key to be (the text it
 * saw there last time, a string this parser accepted).  A key equal to its
 * expectation is taken with one comparison instead of a scan; any other key
 * is scanned as usual, so a hint never changes what a request means.
 */
struct reqparse_hint {
	const char *key;
	size_t len; /* 0: no expectation */
};

struct reqparse {
	struct reqparse_value model;      /* NONE or STRING */
	struct reqparse_value objective;  /* NONE or STRING */
	struct reqparse_value interval;   /* NONE, INT or REAL (the caller checks the range) */
	bool include_levels;
	bool explain;
	/* reqparse_parse_recommend's: */
	struct reqparse_value alternatives; /* NONE or INT */
	struct reqparse_value price_ending; /* NONE, INT or REAL */
	long long *levels;                  /* the items' "levels", one after another */
	size_t n_levels, cap_levels;
	struct reqparse_item *items;
	size_t n_items, cap_items;
	struct reqparse_feature *features;
	size_t n_features, cap_features;
	bool recommend; /* which request's shape is read: set by reqparse_parse and reqparse_parse_recommend */
	/* optional, the caller's, set after reqparse_init (which clears them): */
	size_t max_items; /* more items than this (0: no limit) stop the parser: REQPARSE_FALLBACK */
	/* hint[f] for f < n_hint */
	const struct reqparse_hint *hint;
	size_t n_hint;
};

void reqparse_init(struct reqparse *r);
void reqparse_done(struct reqparse *r);

/*
 * Parse body into the outputs above (each set again by every call; the
 * arrays are kept for the next); REQPARSE_FALLBACK means: let the jansson
 * path decide.
 */
enum reqparse_result reqparse_parse(struct reqparse *r, const char *body, size_t len);
/* The same for the /v1/recommend request. */
enum reqparse_result reqparse_parse_recommend(struct reqparse *r, const char *body, size_t len);

/* A string of the tape as a C string in buf; false when it does not fit or holds a NUL. */
bool reqparse_c_string(const struct reqparse_value *v, char *buf, size_t size);

#endif
