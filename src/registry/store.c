/* store — see include/shelfcast/store.h. */
#include "shelfcast/store.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STORE_MAX_MODELS 256

/*
 * Lock order: borrowers_lock, then a borrower's lock, then lock.  Nothing
 * holding `lock` takes another.
 */
struct store {
	pthread_mutex_t lock;
	struct model *models[STORE_MAX_MODELS];
	size_t n;
	char *default_name; /* NULL when not configured */
	/* When default_name is NULL (store_settle_default): the only model at start, then the registry's flag. */
	char implicit_name[MODEL_NAME_MAX + 1]; /* "" when none */
	char registry_name[MODEL_NAME_MAX + 1]; /* "" when none */
	bool settled;                           /* the start (a first set of models) has been seen */
	/* Bumped after every change, so that a borrower sees with one load whether what it holds may be stale. */
	atomic_uint_fast64_t generation;
	pthread_mutex_t borrowers_lock;
	struct store_borrower *borrowers; /* every borrower of this store, linked */
};

static void changed(struct store *s)
{
	atomic_fetch_add_explicit(&s->generation, 1, memory_order_acq_rel);
}

struct store *store_new(void)
{
	struct store *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->borrowers_lock, NULL);
	atomic_init(&s->generation, 1);
	return s;
}

void store_free(struct store *s)
{
	size_t i;
	if (!s)
		return;
	for (i = 0; i < s->n; i++)
		model_unref(s->models[i]);
	free(s->default_name);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->borrowers_lock);
	free(s);
}

enum error_code store_set_default(struct store *s, const char *name, struct error *err)
{
	char *copy = name && *name ? strdup(name) : NULL, *old;

	if (name && strlen(name) > MODEL_NAME_MAX) {
		free(copy);
		return error_set(err, ERROR_INVALID, "model", "model name \"%.70s\" is too long", name);
	}
	if (name && *name && !copy)
		return error_nomem(err, "the default model name");
	pthread_mutex_lock(&s->lock);
	old = s->default_name;
	s->default_name = copy;
	changed(s);
	pthread_mutex_unlock(&s->lock);
	free(old);
	return ERROR_OK;
}

/* Called with s->lock held: the name a request without one gets, or NULL. */
static const char *effective_default(const struct store *s)
{
	if (s->default_name)
		return s->default_name;
	if (*s->implicit_name)
		return s->implicit_name;
	return *s->registry_name ? s->registry_name : NULL;
}

static struct model *find(struct store *s, const char *name)
{
	size_t i;
	for (i = 0; i < s->n; i++)
		if (!strcmp(s->models[i]->name, name))
			return s->models[i];
	return NULL;
}

struct model *store_acquire(struct store *s, const char *name, struct error *err)
{
	struct model *m = NULL;

	pthread_mutex_lock(&s->lock);
	if (name) {
		m = find(s, name);
		if (!m)
			error_set(err, s->n ? ERROR_NOT_FOUND : ERROR_UNAVAILABLE, "model",
				  s->n ? "model \"%s\" is not served here"
				       : "no model is loaded yet (model \"%s\" requested)",
				  name);
	} else if (effective_default(s)) {
		m = find(s, effective_default(s));
		if (!m)
			error_set(err, ERROR_UNAVAILABLE, NULL,
				  "the default model \"%s\" is not loaded yet", effective_default(s));
	} else if (s->n == 1 && !s->settled) {
		m = s->models[0];
	} else if (s->n == 0) {
		error_set(err, ERROR_UNAVAILABLE, NULL, "no model is loaded yet");
	} else {
		error_set(err, ERROR_INVALID, "model",
			  "model: required, this server serves %zu models and has no default (--model "
			  "or `shelfcast models default NAME`)",
			  s->n);
	}
	model_ref(m);
	pthread_mutex_unlock(&s->lock);
	return m;
}

/* ---- borrowing: a worker's references, reused while nothing changed ---- */

#define BORROW_SLOTS 8

struct store_borrower {
	struct store *store;
	pthread_mutex_t lock;        /* held from store_borrow_begin to store_borrow_end */
	uint_fast64_t generation;    /* the store's when the slots were checked last */
	atomic_bool release_due;     /* the store changed during a borrow: let go at its end */
	size_t n;
	struct {
		bool is_default;     /* borrowed for name NULL */
		bool in_span;        /* handed out in the current borrow: kept until its end */
		struct model *model; /* a reference this borrower holds */
	} slot[BORROW_SLOTS];
	struct store_borrower *next; /* in the store's list */
};

/* Called with b->lock held. */
static void drop_borrows(struct store_borrower *b)
{
	size_t i;
	for (i = 0; i < b->n; i++)
		model_unref(b->slot[i].model);
	b->n = 0;
}

/* Called with b->lock held: references taken before a store change go. */
static void drop_if_stale(struct store_borrower *b)
{
	uint_fast64_t g = atomic_load_explicit(&b->store->generation, memory_order_acquire);

	if (b->generation != g) {
		drop_borrows(b);
		b->generation = g;
	}
}

struct store_borrower *store_borrower_new(struct store *s)
{
	struct store_borrower *b = calloc(1, sizeof *b);

	if (!b)
		return NULL;
	b->store = s;
	pthread_mutex_init(&b->lock, NULL);
	pthread_mutex_lock(&s->borrowers_lock);
	b->next = s->borrowers;
	s->borrowers = b;
	pthread_mutex_unlock(&s->borrowers_lock);
	return b;
}

void store_borrower_free(struct store_borrower *b)
{
	struct store_borrower **p;

	if (!b)
		return;
	pthread_mutex_lock(&b->store->borrowers_lock);
	for (p = &b->store->borrowers; *p && *p != b; p = &(*p)->next)
		;
	if (*p)
		*p = b->next;
	pthread_mutex_unlock(&b->store->borrowers_lock);
	drop_borrows(b);
	pthread_mutex_destroy(&b->lock);
	free(b);
}

void store_borrow_begin(struct store_borrower *b)
{
	size_t i;

	pthread_mutex_lock(&b->lock);
	atomic_store(&b->release_due, false);
	drop_if_stale(b);
	for (i = 0; i < b->n; i++)
		b->slot[i].in_span = false;
}

void store_borrow_end(struct store_borrower *b)
{
	if (atomic_exchange(&b->release_due, false))
		drop_if_stale(b);
	pthread_mutex_unlock(&b->lock);
}

/* A slot for a new reference: a free one, else the first not handed out in this borrow; -1 if none. */
static int free_slot(struct store_borrower *b)
{
	size_t i;

	if (b->n < BORROW_SLOTS)
		return (int)b->n++;
	for (i = 0; i < b->n && b->slot[i].in_span; i++)
		;
	if (i == b->n)
		return -1;
	model_unref(b->slot[i].model);
	return (int)i;
}

struct model *store_borrow(struct store_borrower *b, const char *name, struct error *err)
{
	struct model *m;
	size_t i;
	int k;

	/* within a borrow, the same name gives the same model, even if the store changed meanwhile */
	for (i = 0; i < b->n; i++)
		if (name ? !b->slot[i].is_default && !strcmp(b->slot[i].model->name, name) : b->slot[i].is_default) {
			b->slot[i].in_span = true;
			return b->slot[i].model;
		}
	m = store_acquire(b->store, name, err);
	if (!m)
		return NULL;
	k = free_slot(b);
	if (k < 0) {
		model_unref(m);
		error_set(err, ERROR_TOO_LARGE, "model", "a request may use at most %d models", BORROW_SLOTS);
		return NULL;
	}
	b->slot[k].is_default = name == NULL;
	b->slot[k].in_span = true;
	b->slot[k].model = m;
	return m;
}

/*
 * After a change: every borrower lets go of what it holds at once, or, when
 * it is in a borrow, at the borrow's end (store_borrow_end reads release_due
 * under its lock; the second trylock covers a borrow that ended between the
 * first and the flag).  Never waits for a request.
 */
static void release_borrowers(struct store *s)
{
	struct store_borrower *b;

	pthread_mutex_lock(&s->borrowers_lock);
	for (b = s->borrowers; b; b = b->next) {
		if (pthread_mutex_trylock(&b->lock) != 0) {
			atomic_store(&b->release_due, true);
			if (pthread_mutex_trylock(&b->lock) != 0)
				continue;
		}
		drop_if_stale(b);
		pthread_mutex_unlock(&b->lock);
	}
	pthread_mutex_unlock(&s->borrowers_lock);
}

enum error_code store_put(struct store *s, struct model *m, struct error *err)
{
	struct model *old = NULL;
	enum error_code rc = ERROR_OK;
	size_t i;

	pthread_mutex_lock(&s->lock);
	for (i = 0; i < s->n && strcmp(s->models[i]->name, m->name); i++)
		;
	if (i < s->n) {
		old = s->models[i];
		s->models[i] = m;
	} else if (s->n < STORE_MAX_MODELS) {
		s->models[s->n++] = m;
	} else {
		old = m; /* full: refuse it rather than evict a serving model */
		rc = error_set(err, ERROR_TOO_LARGE, "model",
			       "cannot serve model %s: this process already serves %d models", m->name,
			       STORE_MAX_MODELS);
	}
	if (!rc)
		changed(s);
	pthread_mutex_unlock(&s->lock);
	if (!rc)
		release_borrowers(s);
	/* Outside the lock: freeing a model may take a moment. */
	model_unref(old);
	return rc;
}

int store_version(struct store *s, const char *name)
{
	struct model *m;
	int v;
	pthread_mutex_lock(&s->lock);
	m = find(s, name);
	v = m ? m->version : 0;
	pthread_mutex_unlock(&s->lock);
	return v;
}

static int by_name(const void *a, const void *b)
{
	const struct model *const *x = a, *const *y = b;
	return strcmp((*x)->name, (*y)->name);
}

struct model **store_snapshot(struct store *s, size_t *n)
{
	struct model **out;
	size_t i;

	pthread_mutex_lock(&s->lock);
	out = calloc(s->n + 1, sizeof *out);
	*n = 0;
	if (out) {
		for (i = 0; i < s->n; i++)
			out[i] = model_ref(s->models[i]);
		*n = s->n;
	}
	pthread_mutex_unlock(&s->lock);
	if (out)
		qsort(out, *n, sizeof *out, by_name);
	return out;
}

void store_release_all(struct model **models, size_t n)
{
	size_t i;
	for (i = 0; models && i < n; i++)
		model_unref(models[i]);
	free(models);
}

bool store_ready(struct store *s, char *reason, size_t size)
{
	bool ok;
	pthread_mutex_lock(&s->lock);
	if (effective_default(s)) {
		ok = find(s, effective_default(s)) != NULL;
		if (!ok)
			snprintf(reason, size, "the default model \"%s\" is not loaded",
				 effective_default(s));
	} else {
		ok = s->n > 0;
		if (!ok)
			snprintf(reason, size, "no model is loaded");
	}
	pthread_mutex_unlock(&s->lock);
	return ok;
}

bool store_settle_default(struct store *s, const char *registry_default)
{
	char before[MODEL_NAME_MAX + 1];
	const char *d;
	bool moved;

	pthread_mutex_lock(&s->lock);
	d = effective_default(s);
	snprintf(before, sizeof before, "%s", d ? d : "");
	if (!s->settled && s->n > 0) {
		s->settled = true;
		if (s->n == 1)
			snprintf(s->implicit_name, sizeof s->implicit_name, "%s", s->models[0]->name);
	}
	snprintf(s->registry_name, sizeof s->registry_name, "%s",
		 registry_default && strlen(registry_default) <= MODEL_NAME_MAX ? registry_default : "");
	d = effective_default(s);
	moved = strcmp(before, d ? d : "") != 0;
	if (moved)
		changed(s);
	pthread_mutex_unlock(&s->lock);
	if (moved)
		release_borrowers(s);
	return moved;
}

bool store_default_name(struct store *s, char *out, size_t size)
{
	const char *d;

	pthread_mutex_lock(&s->lock);
	d = effective_default(s);
	snprintf(out, size, "%s", d ? d : "");
	pthread_mutex_unlock(&s->lock);
	return d != NULL;
}
