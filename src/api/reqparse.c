/*
 * reqparse — see include/shelfcast/reqparse.h.
 *
 * Grammar is RFC 8259; whitespace is space, tab, CR and LF.  Numbers:
 * integers of up to 18 digits become long long exactly; reals are
 * converted only when Clinger's fast path is exact (at most 19 significant
 * digits, mantissa below 2^53, decimal exponent within +-22: one exact
 * multiplication or division, so correctly rounded, the same double strtod
 * gives).  Anything else falls back.
 */
#include "shelfcast/reqparse.h"

#include <stdlib.h>
#include <string.h>

#include "shelfcast/util.h"

struct cursor {
	const unsigned char *p, *end;
};

void reqparse_init(struct reqparse *r)
{
	memset(r, 0, sizeof *r);
}

void reqparse_done(struct reqparse *r)
{
	if (!r)
		return;
	free(r->items);
	free(r->features);
	free(r->levels);
	reqparse_init(r);
}

/*
 * The cursor is copied into locals: stores through the unsigned char
 * pointers it holds could alias it, and the compiler would reload it on
 * every byte.
 */
static void skip_ws_loop(struct cursor *c)
{
	const unsigned char *p = c->p, *end = c->end;
	while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
		p++;
	c->p = p;
}

/*
 * Inlined: the usual byte is not white space (all four are <= ' '), and the
 * usual white space is the one space of ", " and ": ".
 */
__attribute__((always_inline)) static inline void skip_ws(struct cursor *c)
{
	const unsigned char *p = c->p;

	if (p < c->end && *p <= ' ') {
		if (*p == ' ' && c->end - p > 1 && p[1] > ' ')
			c->p = p + 1;
		else
			skip_ws_loop(c);
	}
}

__attribute__((always_inline)) static inline bool eat(struct cursor *c, unsigned char ch)
{
	skip_ws(c);
	if (c->p < c->end && *c->p == ch) {
		c->p++;
		return true;
	}
	return false;
}

/* A string without escapes or control characters, valid UTF-8: s and len get its inside. */
static bool string(struct cursor *c, const char **s, size_t *len)
{
	const unsigned char *start;

	skip_ws(c);
	if (c->p >= c->end || *c->p != '"')
		return false;
	start = ++c->p;
	while (c->p < c->end) {
		unsigned char ch;
		c->p += util_json_plain_len(c->p, (size_t)(c->end - c->p));
		if (c->p >= c->end)
			break;
		ch = *c->p;
		if (ch == '"') {
			*s = (const char *)start;
			*len = (size_t)(c->p - start);
			c->p++;
			return true;
		}
		if (ch < 0x20 || ch == '\\')
			return false; /* controls are invalid; escapes are jansson's job */
		{
			size_t n, i;
			uint32_t cp;
			if (ch >= 0xc2 && ch <= 0xdf)
				n = 2, cp = ch & 0x1f;
			else if (ch >= 0xe0 && ch <= 0xef)
				n = 3, cp = ch & 0x0f;
			else if (ch >= 0xf0 && ch <= 0xf4)
				n = 4, cp = ch & 0x07;
			else
				return false;
			if ((size_t)(c->end - c->p) < n)
				return false;
			for (i = 1; i < n; i++) {
				if ((c->p[i] & 0xc0) != 0x80)
					return false;
				cp = (cp << 6) | (c->p[i] & 0x3f);
			}
			if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
			    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
				return false;
			c->p += n;
		}
	}
	return false;
}

static bool literal(struct cursor *c, const char *word, size_t n)
{
	if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n))
		return false;
	c->p += n;
	return true;
}

static const double pow10_exact[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
				       1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
				       1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static bool number(struct cursor *c, struct reqparse_value *v)
{
	const unsigned char *p = c->p, *end = c->end, *d;
	bool neg = false, real = false;
	uint64_t m = 0;
	int digits = 0, frac = 0, e = 0;

	if (p < end && *p == '-') {
		neg = true;
		p++;
	}
	if (p >= end || *p < '0' || *p > '9')
		return false;
	if (*p == '0') {
		p++;
	} else {
		/* m may wrap past 19 digits: such a number is refused below */
		for (d = p; p < end && (unsigned)(*p - '0') <= 9; p++)
			m = m * 10 + (uint64_t)(*p - '0');
		digits = (int)(p - d);
		if (digits > 18)
			return false;
	}
	if (p < end && *p == '.') {
		const unsigned char *f = ++p, *lim;
		real = true;
		if (m == 0) /* leading zeros of a fraction add no digits */
			while (p < end && *p == '0')
				p++;
		/* at most 20 digits are read: more are refused below either way */
		lim = end - p > 20 ? p + 20 : end;
		for (d = p; p < lim && (unsigned)(*p - '0') <= 9; p++)
			m = m * 10 + (uint64_t)(*p - '0');
		if (p == f || digits + (p - d) > 19)
			return false;
		frac = (int)(p - f);
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		bool eneg = false;
		int x = 0;
		real = true;
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			eneg = *p++ == '-';
		if (p >= end || *p < '0' || *p > '9')
			return false;
		while (p < end && *p >= '0' && *p <= '9') {
			if (x > 10000)
				return false;
			x = x * 10 + (*p++ - '0');
		}
		e = eneg ? -x : x;
	}
	c->p = p;
	if (!real) {
		v->kind = REQPARSE_INT;
		v->i = neg ? -(long long)m : (long long)m;
		v->d = (double)v->i;
		return true;
	}
	e -= frac;
	if (m > (1ULL << 53) || e < -22 || e > 22)
		return false; /* not exact by the fast path: strtod's answer could differ */
	v->kind = REQPARSE_REAL;
	v->d = e >= 0 ? (double)m * pow10_exact[e] : (double)m / pow10_exact[-e];
	if (neg)
		v->d = -v->d;
	return true;
}

/* A scalar: string, number or null; containers and booleans fall back. */
static bool scalar(struct cursor *c, struct reqparse_value *v)
{
	skip_ws(c);
	if (c->p >= c->end)
		return false;
	memset(v, 0, sizeof *v);
	if (*c->p == '"') {
		v->kind = REQPARSE_STRING;
		return string(c, &v->s, &v->len);
	}
	if (*c->p == 'n') {
		v->kind = REQPARSE_NONE;
		return literal(c, "null", 4);
	}
	return number(c, v);
}

static bool key_is(const char *k, size_t n, const char *want)
{
	return strlen(want) == n && !memcmp(k, want, n);
}

/* The key at the cursor if it is exactly the expected one (a string scanned and accepted before). */
static bool expected_key(struct cursor *c, const struct reqparse_hint *h, const char **key, size_t *len)
{
	const unsigned char *p;

	skip_ws(c);
	p = c->p;
	if (!h->len || (size_t)(c->end - p) < h->len + 2 || *p != '"' || p[h->len + 1] != '"' ||
	    memcmp(p + 1, h->key, h->len))
		return false;
	*key = (const char *)p + 1;
	*len = h->len;
	c->p = p + h->len + 2;
	return true;
}

/* The next feature's slot, parsed in place (NULL when out of memory). */
static struct reqparse_feature *next_feature(struct reqparse *r)
{
	struct reqparse_feature *p =
		util_reserve(r->features, &r->cap_features, r->n_features, sizeof *p, 64);

	if (!p)
		return NULL;
	r->features = p;
	return &p[r->n_features];
}

/*
 * The members of the object at the cursor, each key (and its colon) handed
 * to take, which reads the value; false on any error, or when take refuses.
 */
static bool members(struct cursor *c, bool (*take)(struct cursor *c, void *ctx, const char *k, size_t n),
		    void *ctx)
{
	if (!eat(c, '{'))
		return false;
	if (eat(c, '}'))
		return true;
	do {
		const char *k;
		size_t n;
		if (!string(c, &k, &n) || !eat(c, ':') || !take(c, ctx, k, n))
			return false;
	} while (eat(c, ','));
	return eat(c, '}');
}

/* A key's first time (its `bit` in *seen, set now): false when it came before. */
static bool once(unsigned *seen, unsigned bit)
{
	if (*seen & bit)
		return false;
	*seen |= bit;
	return true;
}

/* A number or null, once (its `bit` in *seen): a /v1/recommend option. */
static bool option(struct cursor *c, unsigned *seen, unsigned bit, struct reqparse_value *v)
{
	return once(seen, bit) && scalar(c, v) && v->kind != REQPARSE_STRING;
}

/* What the members of an item, or of its "price", are read into; seen: the keys read (a bit each). */
struct item_ctx {
	struct reqparse *r;
	struct reqparse_item *it;
	unsigned seen;
};

/* A member of "price": "min" or "max", each once. */
static bool price_member(struct cursor *c, void *ctx, const char *k, size_t n)
{
	struct item_ctx *x = ctx;

	if (key_is(k, n, "min"))
		return option(c, &x->seen, 1, &x->it->price_min);
	return key_is(k, n, "max") && option(c, &x->seen, 2, &x->it->price_max);
}

/* "price": {"min": number|null, "max": number|null} or null. */
static bool price(struct cursor *c, struct reqparse_item *it)
{
	struct item_ctx x = {NULL, it, 0};

	skip_ws(c);
	return literal(c, "null", 4) || members(c, price_member, &x);
}

/* "levels": [int, ...] (not empty) or null, into r->levels. */
static bool levels(struct cursor *c, struct reqparse *r, struct reqparse_item *it)
{
	skip_ws(c);
	if (literal(c, "null", 4))
		return true;
	if (!eat(c, '[') || eat(c, ']'))
		return false; /* an empty list: jansson's path says why */
	it->first_level = r->n_levels;
	do {
		struct reqparse_value v;
		long long *p = util_reserve(r->levels, &r->cap_levels, r->n_levels, sizeof *p, 16);
		if (!p)
			return false;
		r->levels = p; /* kept at once: a grown array is the only one left */
		if (!scalar(c, &v) || v.kind != REQPARSE_INT)
			return false;
		r->levels[r->n_levels++] = v.i;
	} while (eat(c, ','));
	it->n_levels = r->n_levels - it->first_level;
	return eat(c, ']');
}

/* A /v1/recommend item's key besides id and features (its bit in *seen); false: not one, or refused. */
static bool recommend_key(struct cursor *c, struct reqparse *r, struct reqparse_item *it, const char *k, size_t n,
			  unsigned *seen)
{
	if (key_is(k, n, "unit_cost"))
		return option(c, seen, 8, &it->unit_cost);
	if (key_is(k, n, "min_margin"))
		return option(c, seen, 16, &it->min_margin);
	if (key_is(k, n, "min_exposure_probability"))
		return option(c, seen, 32, &it->min_exposure);
	if (key_is(k, n, "price"))
		return once(seen, 64) && price(c, it);
	return key_is(k, n, "levels") && once(seen, 128) && levels(c, r, it);
}

/* The features object of an item: its keys (hinted) and scalar values appended to r->features. */
static bool features(struct cursor *c, struct reqparse *r, struct reqparse_item *it)
{
	it->has_features = true;
	if (!eat(c, '{'))
		return false;
	it->features_text = (const char *)c->p - 1;
	if (!eat(c, '}')) {
		do {
			struct reqparse_feature *f = next_feature(r);
			size_t at = r->n_features - it->first;
			if (!f)
				return false;
			f->expected = at < r->n_hint && expected_key(c, &r->hint[at], &f->key, &f->key_len);
			if ((!f->expected && !string(c, &f->key, &f->key_len)) || !eat(c, ':') || !scalar(c, &f->value))
				return false;
			r->n_features++;
		} while (eat(c, ','));
		if (!eat(c, '}'))
			return false;
	}
	it->features_len = (size_t)((const char *)c->p - it->features_text);
	return true;
}

/* A member of an item: features, id, and promotion_level or (reqparse.recommend) the options, each once. */
static bool item_member(struct cursor *c, void *ctx, const char *k, size_t n)
{
	struct item_ctx *x = ctx;
	struct reqparse_item *it = x->it;

	if (key_is(k, n, "features"))
		return once(&x->seen, 1) && features(c, x->r, it);
	if (key_is(k, n, "id"))
		return once(&x->seen, 2) && scalar(c, &it->id) && it->id.kind != REQPARSE_REAL;
	if (x->r->recommend)
		return recommend_key(c, x->r, it, k, n, &x->seen);
	return key_is(k, n, "promotion_level") && once(&x->seen, 4) && scalar(c, &it->level) &&
	       it->level.kind != REQPARSE_REAL && it->level.kind != REQPARSE_STRING;
}

static bool item(struct cursor *c, struct reqparse *r, struct reqparse_item *it)
{
	struct item_ctx x = {r, it, 0};

	memset(it, 0, sizeof *it);
	it->first = r->n_features;
	if (!members(c, item_member, &x))
		return false;
	it->count = r->n_features - it->first;
	return true;
}

/* A top-level boolean seen once (its `bit` in *seen): true or false, else false. */
static bool boolean(struct cursor *c, unsigned *seen, unsigned bit, bool *out)
{
	if (!once(seen, bit))
		return false;
	skip_ws(c);
	if (literal(c, "true", 4))
		*out = true;
	else if (!literal(c, "false", 5))
		return false;
	return true;
}

static enum reqparse_result parse(struct reqparse *r, const char *body, size_t len)
{
	struct cursor c = {(const unsigned char *)body, (const unsigned char *)body + len};
	unsigned seen = 0;

	r->n_items = r->n_features = r->n_levels = 0;
	r->model.kind = r->objective.kind = r->interval.kind = REQPARSE_NONE;
	r->alternatives.kind = r->price_ending.kind = REQPARSE_NONE;
	r->include_levels = r->explain = false;
	if (!eat(&c, '{'))
		return REQPARSE_FALLBACK;
	if (eat(&c, '}'))
		return REQPARSE_FALLBACK; /* no items: jansson's path says so */
	do {
		const char *k;
		size_t n;
		if (!string(&c, &k, &n) || !eat(&c, ':'))
			return REQPARSE_FALLBACK;
		if (key_is(k, n, "items")) {
			if (!once(&seen, 1) || !eat(&c, '['))
				return REQPARSE_FALLBACK;
			if (eat(&c, ']'))
				return REQPARSE_FALLBACK;
			do {
				struct reqparse_item *p;
				if (r->max_items && r->n_items == r->max_items)
					return REQPARSE_FALLBACK; /* one too many: read no further */
				p = util_reserve(r->items, &r->cap_items, r->n_items, sizeof *p, 16);
				if (!p)
					return REQPARSE_FALLBACK;
				r->items = p;
				if (!item(&c, r, &r->items[r->n_items]))
					return REQPARSE_FALLBACK;
				r->n_items++;
			} while (eat(&c, ','));
			if (!eat(&c, ']'))
				return REQPARSE_FALLBACK;
		} else if (key_is(k, n, "model") || key_is(k, n, "objective")) {
			unsigned bit = k[0] == 'm' ? 2 : 4;
			struct reqparse_value *v = bit == 2 ? &r->model : &r->objective;
			if (!once(&seen, bit) || !scalar(&c, v) || v->kind == REQPARSE_INT || v->kind == REQPARSE_REAL)
				return REQPARSE_FALLBACK;
		} else if (r->recommend && key_is(k, n, "alternatives")) { /* the route's own keys */
			if (!once(&seen, 64) || !scalar(&c, &r->alternatives) ||
			    r->alternatives.kind == REQPARSE_STRING || r->alternatives.kind == REQPARSE_REAL)
				return REQPARSE_FALLBACK;
		} else if (r->recommend && key_is(k, n, "price_ending")) {
			if (!option(&c, &seen, 128, &r->price_ending))
				return REQPARSE_FALLBACK;
		} else if (!r->recommend && key_is(k, n, "interval")) {
			if (!once(&seen, 32) || !scalar(&c, &r->interval) || r->interval.kind == REQPARSE_STRING)
				return REQPARSE_FALLBACK;
		} else if (!r->recommend && key_is(k, n, "include_levels")) {
			if (!boolean(&c, &seen, 8, &r->include_levels))
				return REQPARSE_FALLBACK;
		} else if (key_is(k, n, "explain")) {
			if (!boolean(&c, &seen, 16, &r->explain))
				return REQPARSE_FALLBACK;
		} else {
			return REQPARSE_FALLBACK;
		}
	} while (eat(&c, ','));
	if (!eat(&c, '}') || !(seen & 1))
		return REQPARSE_FALLBACK;
	skip_ws(&c);
	return c.p == c.end ? REQPARSE_OK : REQPARSE_FALLBACK;
}

enum reqparse_result reqparse_parse(struct reqparse *r, const char *body, size_t len)
{
	r->recommend = false;
	return parse(r, body, len);
}

enum reqparse_result reqparse_parse_recommend(struct reqparse *r, const char *body, size_t len)
{
	r->recommend = true;
	return parse(r, body, len);
}

bool reqparse_c_string(const struct reqparse_value *v, char *buf, size_t size)
{
	if (v->len >= size || memchr(v->s, '\0', v->len))
		return false;
	memcpy(buf, v->s, v->len);
	buf[v->len] = '\0';
	return true;
}
