/* recommend_search — see include/shelfcast/recommend_search.h and recommend.h. */
#include "shelfcast/recommend_search.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shelfcast/heads.h"
#include "shelfcast/numfmt.h"
#include "shelfcast/util.h"

/* A candidate's exposure must clear the minimum by this much to count as feasible in the search. */
#define EXPOSURE_GUARD 1e-6
/* Options kept per item beyond those asked for: stand-ins should one fail its confirmation. */
#define SPARE (RECOMMEND_MAX_OPTIONS - 1 - RECOMMEND_MAX_ALTERNATIVES)
/* Candidates looked at beyond those kept: stand-ins for any that print as an earlier option. */
#define RECOMMEND_TOP_EXTRA 8

/*
 * A level's candidate prices: index i in [0, n).  Evenly spaced from lo to
 * hi, or with an ending e: (base + i) + e.
 */
struct space {
	double lo, hi;
	double ending; /* NAN: evenly spaced */
	double base;
	size_t n;
};

static double space_price(const struct space *s, size_t i)
{
	if (!isnan(s->ending))
		return (s->base + (double)i) + s->ending;
	if (i == 0)
		return s->lo;
	if (i + 1 == s->n)
		return s->hi;
	return s->lo + (s->hi - s->lo) * (double)i / (double)(s->n - 1);
}

/* A scored (price, level) of one item. */
struct recommend_cand {
	double price;
	size_t idx;    /* its index in its level's space; SIZE_MAX off the space (a refinement) */
	int level;
	double value, exposure;
};

/* Per level, during an item's search. */
struct level_state {
	bool searched;     /* allowed, and some price leaves the minimum margin */
	struct space s;    /* its candidates (from the margin's floor up) */
	size_t m;          /* points of its first round */
	size_t step;       /* with an ending: the spacing of the last round around best */
	bool has_best;
	struct recommend_cand best;
};


void recommend_work_done(struct recommend_work *w)
{
	size_t k;

	if (w->sweep)
		for (k = 0; k < w->K; k++)
			mlp_sweep_done(&w->sweep[k]);
	free(w->block);
	predict_batch_done(&w->batch);
}

/*
 * Point w's arrays into one block at base, each at a multiple of 32 bytes
 * (base NULL, or an array of no elements: NULL); the bytes they take.
 * Called once to size the block and once to lay it out.
 */
static size_t lay_out(struct recommend_work *w, unsigned char *base)
{
	const struct spec *spec = w->spec;
	const struct mlp *mlp = &w->m->mlp;
	size_t at = 0, R = w->max_rows;

#define TAKE(field, count)                                                    \
	do {                                                                  \
		w->field = base && (count) != 0 ? (void *)(base + at) : NULL; \
		at += ((count) * sizeof *w->field + 31) / 32 * 32;            \
	} while (0)
	TAKE(x, w->d);
	TAKE(h0, w->H);
	TAKE(hp, w->H);
	TAKE(s, w->m->n_price_in + 1);
	TAKE(act, R * (mlp->layer[1].out > w->H ? mlp->layer[1].out : w->H));
	TAKE(scratch, mlp_scratch_floats(mlp, R));
	TAKE(y, R * HEADS_COUNT);
	TAKE(sweep, w->m->sweep.available ? w->K : 0); /* none: the dense rows */
	TAKE(rows, R);
	TAKE(pool, w->K * (RECOMMEND_GRID + 1) + RECOMMEND_STARTS);
	TAKE(grid, w->K * RECOMMEND_GRID);
	TAKE(expected, R);
	TAKE(exposure, R);
	TAKE(defaulted, spec->n_numeric + 1);
	TAKE(clipped, spec->n_numeric + 1);
#undef TAKE
	return at;
}

enum error_code recommend_work_init(struct recommend_work *w, const struct model *m, size_t n, struct error *err)
{
	const struct spec *spec = &m->spec;
	size_t k;
	bool ok;

	memset(w, 0, sizeof *w);
	w->m = m;
	w->spec = spec;
	w->d = spec->input_size;
	w->H = m->mlp.layer[0].out;
	w->K = spec->n_levels;
	w->max_rows = w->K * RECOMMEND_GRID; /* a refinement round takes at most 2 * RECOMMEND_REFINE per level */
	w->block = malloc(lay_out(w, NULL));
	ok = w->block != NULL;
	if (ok)
		lay_out(w, w->block);
	if (ok && w->sweep) /* each done'd, made or not */
		memset(w->sweep, 0, w->K * sizeof *w->sweep);
	for (k = 0; ok && w->sweep && k < w->K; k++) /* a sweep per level along the model's price inputs */
		ok = mlp_sweep_init(&w->sweep[k], &m->sweep);
	if (!ok) {
		recommend_work_done(w);
		return error_nomem(err, "the recommendation search");
	}
	/* fewer items than a tile are scored as one batch of that many, as /v1/predict scores them */
	if (predict_batch_init(&w->batch, m, n < m->tile_items ? n : m->tile_items, err) != ERROR_OK) {
		recommend_work_done(w);
		return err->code;
	}
	return ERROR_OK;
}

/* Every price input of values set to the number p. */
void recommend_set_price(const struct recommend_work *w, struct encoder_value *values, double p)
{
	size_t j;

	for (j = 0; j < w->m->n_price_in; j++) {
		values[w->m->price_in[j]].kind = ENCODER_VALUE_NUMBER;
		values[w->m->price_in[j]].number = p;
	}
}

/* The two loops every row runs, in the CPU's widest vectors (as mlp.c's kernels). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define ROW_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define ROW_CLONES
#endif

/* out = a + b, n floats. */
ROW_CLONES static void add_to(float *restrict out, const float *restrict a, const float *restrict b, size_t n)
{
	size_t o;

	for (o = 0; o < n; o++)
		out[o] = a[o] + b[o];
}

/* out = max(a + b, 0), n floats. */
ROW_CLONES static void add_relu(float *restrict out, const float *restrict a, const float *restrict b, size_t n)
{
	size_t o;

	for (o = 0; o < n; o++) {
		float v = a[o] + b[o];
		out[o] = v > 0.0f ? v : 0.0f;
	}
}

/* out += z * col, n floats. */
ROW_CLONES static void axpy(float *restrict out, float z, const float *restrict col, size_t n)
{
	size_t o;

	for (o = 0; o < n; o++)
		out[o] += z * col[o];
}

/*
 * The item's first-layer pre-activation without its price inputs and its
 * level: h0 = b + sum over the other nonzero inputs of x_i * W[:, i]; each
 * level's sweep, if any, starts from h0 plus its level's column.
 */
static void base_preactivation(struct recommend_work *w)
{
	const struct model *m = w->m;
	const struct mlp_layer *L = &m->mlp.layer[0];
	size_t level_offset = encoder_level_offset(m->enc), i, j, k;

	for (j = 0; j < m->n_price_in; j++)
		w->x[m->price_in[j]] = 0.0f;
	memcpy(w->h0, L->b, w->H * sizeof *w->h0);
	for (i = 0; i < w->d; i++)
		if (w->x[i] != 0.0f)
			axpy(w->h0, w->x[i], L->wt + i * w->H, w->H);
	for (k = 0; w->sweep && k < w->K; k++) {
		add_to(w->hp, w->h0, L->wt + (level_offset + k) * w->H, w->H);
		mlp_sweep_start(&w->sweep[k], w->hp);
	}
}

/*
 * Score rows [0, R) of w->rows (price and level set): their value and
 * exposure.  Each row's second layer comes from its level's sweep; without
 * one, its first layer is h0 plus the price's and the level's columns, and
 * the dense layers run from layer 1.  The rest of the network runs over
 * the R rows in one call.
 */
static void score_rows(struct recommend_work *w, size_t R, enum spec_objective objective, double unit_cost)
{
	const struct model *m = w->m;
	const struct mlp_layer *L = &m->mlp.layer[0];
	size_t level_offset = encoder_level_offset(m->enc), r, j;
	size_t width = w->sweep ? m->mlp.layer[1].out : w->H; /* a row of act */

	for (r = 0; r < R; r++) {
		const struct recommend_cand *c = &w->rows[r];
		float *act = w->act + r * width;

		/* the price's inputs, once per price: rows of one price at other levels follow it */
		if (r == 0 || c->price != w->rows[r - 1].price) {
			for (j = 0; j < m->n_price_in; j++)
				w->s[j] = encoder_numeric_z(m->enc, (size_t)m->price_in[j], c->price);
			if (!w->sweep) {
				memcpy(w->hp, w->h0, w->H * sizeof *w->hp);
				for (j = 0; j < m->n_price_in; j++)
					axpy(w->hp, w->s[j], L->wt + (size_t)m->price_in[j] * w->H, w->H);
			}
		}
		if (w->sweep)
			mlp_sweep_row(&w->sweep[c->level], w->s, act);
		else
			add_relu(act, w->hp, L->wt + (level_offset + (size_t)c->level) * w->H, w->H);
	}
	mlp_forward_search_from(&m->search, w->sweep ? 2 : 1, w->act, R, w->scratch, w->y);
	heads_rows_fast(w->spec, w->y, R, w->expected, w->exposure);
	for (r = 0; r < R; r++) {
		struct recommend_cand *c = &w->rows[r];
		const float *y = w->y + HEADS_COUNT * r;
		c->exposure = w->exposure[r];
		c->value = isfinite(y[HEADS_SALES]) && isfinite(y[HEADS_EXPOSURE])
				   ? heads_value(w->spec, objective, (size_t)c->level, w->expected[r], c->price,
						 isnan(unit_cost) ? 0.0 : unit_cost)
				   : NAN;
	}
}

/* Is a ranked before b?  The higher value; ties: the lower level, then the lower price. */
static bool better(const struct recommend_cand *a, const struct recommend_cand *b)
{
	if (a->value != b->value)
		return a->value > b->value;
	if (a->level != b->level)
		return a->level < b->level;
	return a->price < b->price;
}

/* The best `keep` distinct candidates of pool[0, n) into top, best first; their count. */
static size_t top_options(const struct recommend_cand *pool, size_t n, size_t keep, struct recommend_cand *top)
{
	size_t i, j, n_top = 0;

	for (i = n; i-- > 0;) { /* from the end: the levels' bests come last, and fill top first */
		const struct recommend_cand *c = &pool[i];
		if (n_top == keep && !better(c, &top[n_top - 1]))
			continue; /* not among the best */
		for (j = 0; j < n_top; j++)
			if (top[j].price == c->price && top[j].level == c->level)
				break;
		if (j < n_top)
			continue; /* already in */
		if (n_top < keep)
			n_top++;
		for (j = n_top - 1; j > 0 && better(c, &top[j - 1]); j--)
			top[j] = top[j - 1];
		top[j] = *c;
	}
	return n_top;
}

static bool feasible(const struct recommend_cand *c, double min_exposure)
{
	return isfinite(c->value) && (isnan(min_exposure) || c->exposure >= min_exposure + EXPOSURE_GUARD);
}

/* The search state an item's rounds share. */
struct item_search {
	struct level_state lv[SPEC_MAX_LEVELS];
	double first_price, last_price; /* the range's first and last candidates */
	size_t n_pool;
	double unit_cost, min_exposure;
	struct recommend_cand top_exposure; /* the highest exposure scored, for a reason */
	bool scored;
};

/* Score rows [0, R) and fold them into the levels' bests (and, in the first round, the pool and grid). */
static void round_done(struct recommend_work *w, struct item_search *is, size_t R, enum spec_objective objective,
		       bool first)
{
	size_t r;

	score_rows(w, R, objective, is->unit_cost);
	for (r = 0; r < R; r++) {
		const struct recommend_cand *c = &w->rows[r];
		struct level_state *ls = &is->lv[c->level];
		bool ok = feasible(c, is->min_exposure);

		if (isfinite(c->value) && (!is->scored || c->exposure > is->top_exposure.exposure)) {
			is->top_exposure = *c;
			is->scored = true;
		}
		if (first) /* a level's rows of the first round come in grid order: its count is the point */
			w->grid[(size_t)c->level * RECOMMEND_GRID + ls->m++] = ok ? c->value : NAN;
		if (!ok)
			continue;
		if (first)
			w->pool[is->n_pool++] = *c;
		if (!ls->has_best || better(c, &ls->best)) {
			ls->best = *c;
			ls->has_best = true;
		}
	}
}

static size_t div_up(size_t a, size_t b)
{
	return a / b + (a % b != 0);
}

/* Row R of the next round: the candidate at index idx of level k's space. */
static void add_row(struct recommend_work *w, size_t *R, const struct level_state *ls, int k, size_t idx)
{
	w->rows[*R] = (struct recommend_cand){space_price(&ls->s, idx), idx, k, NAN, NAN};
	(*R)++;
}

/* With a price ending: around each level's best, every candidate at last, a finer spacing each round. */
static void refine_discrete(struct recommend_work *w, struct item_search *is, enum spec_objective objective)
{
	size_t K = w->K, k, R, t;
	bool more;

	do {
		more = false;
		R = 0;
		for (k = 0; k < K; k++) {
			struct level_state *ls = &is->lv[k];
			size_t step, b = ls->best.idx;
			if (!ls->has_best || ls->step <= 1)
				continue;
			step = div_up(ls->step, RECOMMEND_REFINE);
			for (t = 1; t <= RECOMMEND_REFINE; t++) {
				if (b >= t * step)
					add_row(w, &R, ls, (int)k, b - t * step);
				if (b + t * step < ls->s.n)
					add_row(w, &R, ls, (int)k, b + t * step);
			}
			ls->step = step;
			more |= step > 1;
		}
		if (R)
			round_done(w, is, R, objective, false);
	} while (more);
}

/* A local refinement of continuous prices: from a first-round point, its best so far. */
struct start {
	const struct level_state *ls;
	struct recommend_cand best;
	size_t r0, r1; /* its rows in the round being scored */
};

/* Fold rows [r0, r1) of the last round (scored) into st's best. */
static void start_done(const struct recommend_work *w, const struct item_search *is, struct start *st)
{
	size_t r;

	for (r = st->r0; r < st->r1; r++)
		if (feasible(&w->rows[r], is->min_exposure) && better(&w->rows[r], &st->best))
			st->best = w->rows[r];
}

/* Is first-round point i of a level's values v (m of them, NAN where infeasible) a local maximum? */
static bool local_max(const double *v, size_t m, size_t i)
{
	return !isnan(v[i]) && (i == 0 || isnan(v[i - 1]) || v[i] >= v[i - 1]) &&
	       (i + 1 == m || isnan(v[i + 1]) || v[i] >= v[i + 1]);
}

/* Is c's point (level and first-round index) one of st[0, n)'s? */
static bool among(const struct start *st, size_t n, const struct recommend_cand *c)
{
	size_t j;

	for (j = 0; j < n; j++)
		if (st[j].best.level == c->level && st[j].best.idx == c->idx)
			return true;
	return false;
}

/* Insert c, a first-round point of ls, into the best-first list st[0, *n) of at most cap. */
static void add_start(struct start *st, size_t *n, size_t cap, const struct level_state *ls,
		      const struct recommend_cand *c)
{
	size_t j;

	if (cap == 0 || (*n == cap && !better(c, &st[*n - 1].best)))
		return;
	if (*n < cap)
		(*n)++;
	for (j = *n - 1; j > 0 && better(c, &st[j - 1].best); j--)
		st[j] = st[j - 1];
	st[j] = (struct start){ls, *c, 0, 0};
}

/*
 * Evenly spaced prices: from RECOMMEND_STARTS points of the first round --
 * the best of each of the RECOMMEND_LEAD_LEVELS best levels, then the best
 * other local maxima over every level -- the midpoints to its neighbours and
 * the vertex of the parabola through the three (when it curves down); then
 * RECOMMEND_HALVINGS rounds of the two points half a spacing either side of
 * that start's best, the spacing halved each round.  The starts of a round
 * are scored together.
 */
static void refine_continuous(struct recommend_work *w, struct item_search *is, enum spec_objective objective)
{
	struct start st[RECOMMEND_STARTS];
	size_t K = w->K, k, i, j, n_st = 0, n_lead, n_rest = 0, R;
	unsigned t;

	/* the best points of the RECOMMEND_LEAD_LEVELS best levels, then the best other local maxima */
	for (k = 0; k < K; k++)
		if (is->lv[k].has_best && is->lv[k].m >= 2)
			add_start(st, &n_st, RECOMMEND_LEAD_LEVELS, &is->lv[k], &is->lv[k].best);
	n_lead = n_st;
	for (k = 0; k < K; k++) {
		const struct level_state *ls = &is->lv[k];
		const double *v = w->grid + k * RECOMMEND_GRID;
		if (!ls->searched || ls->m < 2)
			continue;
		for (i = 0; i < ls->m; i++) {
			struct recommend_cand c = {space_price(&ls->s, i), i, (int)k, v[i], NAN};
			if (local_max(v, ls->m, i) && !among(st, n_lead, &c))
				add_start(st + n_lead, &n_rest, RECOMMEND_STARTS - n_lead, ls, &c);
		}
	}
	n_st = n_lead + n_rest;
	R = 0;
	for (j = 0; j < n_st; j++) {
		const struct level_state *ls = st[j].ls;
		const double *v = w->grid + (size_t)st[j].best.level * RECOMMEND_GRID;
		size_t b = st[j].best.idx;
		double p = st[j].best.price, h = (ls->s.hi - ls->s.lo) / (double)(ls->s.n - 1);
		int lvl = st[j].best.level;
		st[j].r0 = R;
		if (b > 0)
			w->rows[R++] = (struct recommend_cand){p - h / 2, SIZE_MAX, lvl, NAN, NAN};
		if (b + 1 < ls->m)
			w->rows[R++] = (struct recommend_cand){p + h / 2, SIZE_MAX, lvl, NAN, NAN};
		if (b > 0 && b + 1 < ls->m && !isnan(v[b - 1]) && !isnan(v[b + 1])) {
			double curve = v[b - 1] - 2 * v[b] + v[b + 1];
			double off = curve < 0 ? h / 2 * (v[b - 1] - v[b + 1]) / curve : 0;
			if (off != 0 && fabs(off) < h && fabs(fabs(off) - h / 2) > 1e-9 * h)
				w->rows[R++] = (struct recommend_cand){p + off, SIZE_MAX, lvl, NAN, NAN};
		}
		st[j].r1 = R;
	}
	for (t = 0; R; t++) {
		round_done(w, is, R, objective, false);
		for (j = 0; j < n_st; j++)
			start_done(w, is, &st[j]);
		if (t == RECOMMEND_HALVINGS)
			break;
		/* halving: the points half a spacing either side of each start's best */
		R = 0;
		for (j = 0; j < n_st; j++) {
			const struct level_state *ls = st[j].ls;
			double h = (ls->s.hi - ls->s.lo) / (double)(ls->s.n - 1) / (double)(2u << t);
			double p = st[j].best.price;
			st[j].r0 = R;
			if (p - h / 2 >= ls->s.lo)
				w->rows[R++] = (struct recommend_cand){p - h / 2, SIZE_MAX, st[j].best.level, NAN, NAN};
			if (p + h / 2 <= ls->s.hi)
				w->rows[R++] = (struct recommend_cand){p + h / 2, SIZE_MAX, st[j].best.level, NAN, NAN};
			st[j].r1 = R;
		}
	}
	/* each start's refined best is a candidate too (the first round's points are in already) */
	for (j = 0; j < n_st; j++)
		if (st[j].best.idx == SIZE_MAX)
			w->pool[is->n_pool++] = st[j].best;
}

/* Round one, every searched level's grid, then the refinement. */
static void search_rounds(struct recommend_work *w, struct item_search *is, enum spec_objective objective,
			  bool discrete)
{
	size_t K = w->K, k, g, R = 0;

	/* point g of every level together: levels that share their prices share each one's inputs */
	for (g = 0; g < RECOMMEND_GRID; g++)
		for (k = 0; k < K; k++) {
			struct level_state *ls = &is->lv[k];
			size_t n = ls->s.n;
			if (!ls->searched || g >= n)
				continue;
			add_row(w, &R, ls, (int)k,
				n <= RECOMMEND_GRID ? g
						    : (size_t)llround((double)g * (double)(n - 1) / (RECOMMEND_GRID - 1)));
			ls->step = n <= RECOMMEND_GRID ? 1 : div_up(n - 1, RECOMMEND_GRID - 1);
		}
	if (!R)
		return;
	round_done(w, is, R, objective, true);
	if (discrete)
		refine_discrete(w, is, objective);
	else
		refine_continuous(w, is, objective);
}

static void level_list(char *buf, size_t size, const struct spec *spec, uint64_t levels)
{
	size_t k, used = 0;

	buf[0] = '\0';
	for (k = 0; k < spec->n_levels && used + 24 < size; k++)
		if (!levels || (levels >> k & 1))
			used += (size_t)snprintf(buf + used, size - used, "%s%lld", used ? ", " : "",
						 spec->levels[k].level);
}

/* Why item's search found nothing. */
static void infeasible(struct recommend_answer *ans, const struct item_search *is,
		       const struct recommend_work *w, const struct recommend_ask *a)
{
	const struct spec *spec = w->spec;
	char levels[128];
	size_t k;

	ans->feasible = false;
	level_list(levels, sizeof levels, spec, a->levels);
	for (k = 0; k < w->K; k++)
		if (is->lv[k].searched)
			break;
	if (k == w->K) {
		double need = INFINITY;
		for (k = 0; k < w->K; k++)
			if (!a->levels || (a->levels >> k & 1))
				need = fmin(need, recommend_margin_floor(spec, k, is->unit_cost, a->min_margin));
		snprintf(ans->reason, sizeof ans->reason,
			 "a margin of at least %g on a unit cost of %g needs a price of at least %.7g "
			 "(levels %s), above the range's highest candidate %.7g",
			 a->min_margin, is->unit_cost, need, levels, is->last_price);
	} else if (is->scored && !isnan(is->min_exposure)) {
		snprintf(ans->reason, sizeof ans->reason,
			 "no candidate reaches the minimum exposure probability of %g: the highest is "
			 "%.7g, at price %.7g and level %lld",
			 is->min_exposure, is->top_exposure.exposure, is->top_exposure.price,
			 spec->levels[is->top_exposure.level].level);
	} else {
		snprintf(ans->reason, sizeof ans->reason,
			 "the model's outputs are not finite numbers anywhere in the price range");
	}
}

/* Item i's search: its answer's range and options (prices printed, numbers not yet confirmed). */
enum error_code recommend_search_item(struct recommend_work *w, struct recommend_ask *a, size_t i,
				   const struct recommend_params *p, struct recommend_answer *ans,
				   struct error *err)
{
	const struct spec *spec = w->spec;
	struct item_search is;
	struct encoder_report rep = {w->defaulted, 0, w->clipped, 0, NULL};
	char prefix[48];
	struct recommend_cand top[RECOMMEND_MAX_OPTIONS + RECOMMEND_TOP_EXTRA];
	size_t k, j, n_top, n_all = 0, keep = 1 + p->alternatives + SPARE;
	double base = 0.0;
	enum error_code rc;

	memset(ans, 0, sizeof *ans);
	memset(&is, 0, sizeof is);
	rc = recommend_price_range(w->m, a, i, ans, err);
	if (rc)
		return rc;
	is.unit_cost = ans->unit_cost = recommend_item_unit_cost(w->m, a);
	is.min_exposure = a->min_exposure;
	if (isnan(is.unit_cost) && (p->objective == SPEC_OBJECTIVE_PROFIT || !isnan(a->min_margin))) {
		snprintf(prefix, sizeof prefix, "items[%zu].unit_cost", i);
		return error_set(err, ERROR_INVALID, prefix,
				 "%s: %s needs a unit cost, and model %s reads none: give unit_cost", prefix,
				 p->objective == SPEC_OBJECTIVE_PROFIT ? "the profit objective" : "min_margin",
				 w->m->name);
	}
	/* the item's row, its price inputs at any valid price (they are replaced) */
	recommend_set_price(w, a->values, ans->lo);
	snprintf(prefix, sizeof prefix, "items[%zu].features", i);
	rc = encoder_encode_reported(w->m->enc, a->values, -1, w->x, NULL, NULL, &rep, prefix, err);
	if (rc)
		return rc;
	base_preactivation(w);

	is.first_price = ans->lo;
	is.last_price = ans->hi;
	if (!isnan(p->price_ending)) {
		double last = floor(ans->hi - p->price_ending);
		base = ceil(ans->lo - p->price_ending);
		while (base + p->price_ending < ans->lo)
			base += 1;
		if (last < base || last - base >= 1e12) {
			ans->feasible = false;
			snprintf(ans->reason, sizeof ans->reason,
				 last < base ? "no price ending in %g lies within [%.7g, %.7g]"
					     : "too many prices ending in %g lie within [%.7g, %.7g]",
				 p->price_ending, ans->lo, ans->hi);
			return ERROR_OK;
		}
		n_all = (size_t)(last - base) + 1;
		is.first_price = base + p->price_ending;
		is.last_price = last + p->price_ending;
	}
	for (k = 0; k < w->K; k++) {
		struct level_state *ls = &is.lv[k];
		double fl = recommend_margin_floor(spec, k, is.unit_cost, a->min_margin);
		if (a->levels && !(a->levels >> k & 1))
			continue;
		if (!isnan(p->price_ending)) { /* the candidates from the first that leaves the margin */
			double f = ceil(fl - p->price_ending - base);
			size_t first = f <= 0 ? 0 : f >= (double)n_all ? n_all : (size_t)f;
			while (first < n_all && base + (double)first + p->price_ending < fl)
				first++;
			while (first > 0 && base + (double)(first - 1) + p->price_ending >= fl)
				first--;
			ls->searched = first < n_all;
			ls->s = (struct space){ans->lo, ans->hi, p->price_ending, base + (double)first, n_all - first};
		} else {
			double lo = fmax(ans->lo, fl);
			ls->searched = lo <= ans->hi;
			ls->s = (struct space){lo, ans->hi, NAN, 0.0, lo < ans->hi ? RECOMMEND_GRID : 1};
		}
	}
	search_rounds(w, &is, p->objective, !isnan(p->price_ending));

	/* the pool: the first round's feasible candidates and each level's best, best first, once each */
	for (k = 0; k < w->K; k++)
		if (is.lv[k].has_best)
			w->pool[is.n_pool++] = is.lv[k].best;
	if (!is.n_pool) {
		infeasible(ans, &is, w, a);
		return ERROR_OK;
	}
	/* more than kept: candidates that print as an earlier one's price and level are left out */
	n_top = top_options(w->pool, is.n_pool, keep + RECOMMEND_TOP_EXTRA, top);
	ans->feasible = true;
	for (j = 0; j < n_top && ans->n < keep; j++) {
		const struct recommend_cand *c = &top[j];
		struct recommend_option *o = &ans->opt[ans->n];
		double floor_k = recommend_margin_floor(spec, (size_t)c->level, is.unit_cost, a->min_margin);
		size_t q;
		o->level = c->level;
		o->price = recommend_printed_price(spec, (size_t)c->level, is.unit_cost, a->min_margin, c->price,
					 fmax(ans->lo, floor_k), ans->hi, !isnan(p->price_ending));
		o->at_bound = c->price == is.first_price || c->price == is.last_price;
		for (q = 0; q < ans->n && !(ans->opt[q].price == o->price && ans->opt[q].level == o->level); q++)
			;
		if (q == ans->n)
			ans->n++;
	}
	return ERROR_OK;
}

