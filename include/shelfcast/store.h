/*
 * store — the models this process serves, by name: a pointer to an
 * immutable model per name, swapped whole.
 *
 * A caller takes a reference (store_acquire), uses the model, drops it; the
 * request path borrows through its worker's borrower instead (store_borrow,
 * below: no shared write).
 * store_put publishes a fully built and validated model by exchanging the
 * pointer; the old model is freed by whichever holder drops the last
 * reference, so a request never sees half of one version and half of
 * another, and a swap never waits for requests to finish.
 *
 * Thread-safety: all functions are safe from any thread.  The store's mutex
 * is held only for the pointer exchange and the reference increment; a
 * borrower's (below) only by its own worker for a request, and tried, never
 * waited for, by a swap.
 */
#ifndef SHELFCAST_STORE_H
#define SHELFCAST_STORE_H

#include <stdbool.h>
#include <stddef.h>

#include "shelfcast/error.h"
#include "shelfcast/model.h"

struct store;

struct store *store_new(void);
/* Drops the store's references. Accepts NULL. */
void store_free(struct store *s);

/*
 * The default: the model a request that names none gets.  It never changes
 * because another model is registered or activated: it is the configured
 * name (store_set_default, `--model`), else the only model at start (the
 * first store_settle_default that sees any model, when it sees exactly
 * one), else the model the registry flags default (`shelfcast models
 * default NAME`, passed to every store_settle_default).  Until the first
 * settle, a store holding exactly one model serves it.
 */
enum error_code store_set_default(struct store *s, const char *name, struct error *err);
/* registry_default: the registry's flag (NULL: none).  True when the default changed. */
bool store_settle_default(struct store *s, const char *registry_default);
/* The default's name into out ("" and false when there is none). */
bool store_default_name(struct store *s, char *out, size_t size);

/*
 * A new reference to the model called name (NULL: the default), or NULL with
 * err: ERROR_UNAVAILABLE when nothing is loaded, ERROR_NOT_FOUND for an
 * unknown name, ERROR_INVALID when name is NULL and there is no default.
 */
struct model *store_acquire(struct store *s, const char *name, struct error *err);

/*
 * A borrower: the request path's way to a model, one per server worker.
 * It keeps one reference per model it handed out (up to 8) and hands the
 * same pointer out again, with no shared write, until the store changes
 * (one atomic load says so).  store_put drops the references of every
 * borrower not in a borrow at once, and of one in a borrow at that borrow's
 * end, without waiting for it: a worker that goes idle never keeps a
 * replaced version alive.
 *
 * store_borrower_new: new, registered with s (which must outlive it); NULL
 * when out of memory.  store_borrower_free drops its references and
 * accepts NULL.  One thread at a time uses a borrower.
 */
struct store_borrower;
struct store_borrower *store_borrower_new(struct store *s);
void store_borrower_free(struct store_borrower *b);

/*
 * A borrow: between store_borrow_begin and store_borrow_end, store_borrow
 * gives the same model as store_acquire (or NULL with err set alike; also
 * ERROR_TOO_LARGE past 8 models in one borrow), borrowed: valid until
 * store_borrow_end, and the same model for the same name throughout the
 * borrow even if the store changes meanwhile.  Keep the span to one
 * request's work.
 */
void store_borrow_begin(struct store_borrower *b);
struct model *store_borrow(struct store_borrower *b, const char *name, struct error *err);
void store_borrow_end(struct store_borrower *b);

/*
 * Publish m, replacing any model of the same name.  The reference is taken
 * either way: when the store is full (256 names), m is dropped and
 * ERROR_TOO_LARGE says so; the models served do not change.
 */
enum error_code store_put(struct store *s, struct model *m, struct error *err);

/* Version served for name, or 0. */
int store_version(struct store *s, const char *name);

/* New references to every model, sorted by name; *n their count; free with store_release_all. */
struct model **store_snapshot(struct store *s, size_t *n);
void store_release_all(struct model **models, size_t n);

/* Is the default model (or, without one configured, any model) loaded? */
bool store_ready(struct store *s, char *reason, size_t reason_size);

#endif
