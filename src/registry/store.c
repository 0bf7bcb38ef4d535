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

struct store {
	pthread_mutex_t lock;
	struct model *models[STORE_MAX_MODELS];
	size_t n;
	char *default_name; /* NULL when not configured */
};

/*
 * Bumped after every change to any store (and when one is made or freed), so
 * that a thread sees with one load whether what it borrowed may be stale.
 */
static atomic_uint_fast64_t generation = 1;

static void changed(void)
{
	atomic_fetch_add_explicit(&generation, 1, memory_order_acq_rel);
}

struct store *store_new(void)
{
	struct store *s = calloc(1, sizeof *s);
	if (s)
		pthread_mutex_init(&s->lock, NULL);
	changed();
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
	free(s);
	changed();
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
	changed();
	pthread_mutex_unlock(&s->lock);
	free(old);
	return ERROR_OK;
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
	} else if (s->default_name) {
		m = find(s, s->default_name);
		if (!m)
			error_set(err, ERROR_UNAVAILABLE, NULL,
				  "the default model \"%s\" is not loaded yet", s->default_name);
	} else if (s->n == 1) {
		m = s->models[0];
	} else if (s->n == 0) {
		error_set(err, ERROR_UNAVAILABLE, NULL, "no model is loaded yet");
	} else {
		error_set(err, ERROR_INVALID, "model",
			  "model: required, this server serves %zu models and has no default (--model)",
			  s->n);
	}
	model_ref(m);
	pthread_mutex_unlock(&s->lock);
	return m;
}

/* ---- borrowing: a per-thread reference, reused while nothing changed ---- */

#define BORROW_SLOTS 4

struct borrowed {
	uint_fast64_t generation;
	size_t n;
	struct {
		const struct store *store;
		bool is_default;     /* borrowed for name NULL */
		struct model *model; /* a reference this thread holds */
	} slot[BORROW_SLOTS];
};

static pthread_key_t borrow_key;
static pthread_once_t borrow_once = PTHREAD_ONCE_INIT;
static __thread struct borrowed *borrows;

static void drop_borrows(struct borrowed *b)
{
	size_t i;
	for (i = 0; i < b->n; i++)
		model_unref(b->slot[i].model);
	b->n = 0;
}

/* When the thread ends, its references go. */
static void free_borrows(void *p)
{
	drop_borrows(p);
	free(p);
}

static void make_borrow_key(void)
{
	pthread_key_create(&borrow_key, free_borrows);
}

struct model *store_borrow(struct store *s, const char *name, struct error *err)
{
	uint_fast64_t g = atomic_load_explicit(&generation, memory_order_acquire);
	struct borrowed *b = borrows;
	struct model *m;
	size_t i;

	if (b && b->generation == g)
		for (i = 0; i < b->n; i++)
			if (b->slot[i].store == s &&
			    (name ? !b->slot[i].is_default && !strcmp(b->slot[i].model->name, name)
				  : b->slot[i].is_default))
				return b->slot[i].model;
	if (!b) {
		pthread_once(&borrow_once, make_borrow_key);
		b = calloc(1, sizeof *b);
		if (!b || pthread_setspecific(borrow_key, b) != 0) {
			free(b);
			error_nomem(err, "a model reference");
			return NULL;
		}
		borrows = b;
	}
	if (b->generation != g) {
		drop_borrows(b);
		b->generation = g;
	}
	m = store_acquire(s, name, err);
	if (!m)
		return NULL;
	if (b->n == BORROW_SLOTS) { /* the oldest goes */
		model_unref(b->slot[0].model);
		memmove(&b->slot[0], &b->slot[1], (BORROW_SLOTS - 1) * sizeof b->slot[0]);
		b->n--;
	}
	b->slot[b->n].store = s;
	b->slot[b->n].is_default = name == NULL;
	b->slot[b->n].model = m;
	b->n++;
	return m;
}

void store_put(struct store *s, struct model *m)
{
	struct model *old = NULL;
	size_t i;

	pthread_mutex_lock(&s->lock);
	for (i = 0; i < s->n; i++)
		if (!strcmp(s->models[i]->name, m->name)) {
			old = s->models[i];
			s->models[i] = m;
			break;
		}
	if (i == s->n) {
		if (s->n < STORE_MAX_MODELS) {
			s->models[s->n++] = m;
		} else {
			old = m; /* full: refuse it rather than evict a serving model */
		}
	}
	changed();
	pthread_mutex_unlock(&s->lock);
	/* Outside the lock: freeing a model may take a moment. */
	model_unref(old);
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
	if (s->default_name) {
		ok = find(s, s->default_name) != NULL;
		if (!ok)
			snprintf(reason, size, "the default model \"%s\" is not loaded", s->default_name);
	} else {
		ok = s->n > 0;
		if (!ok)
			snprintf(reason, size, "no model is loaded");
	}
	pthread_mutex_unlock(&s->lock);
	return ok;
}
