/*
 * store — the models this process serves, by name: a pointer to an
 * immutable model per name, swapped whole.
 *
 * A caller takes a reference (store_acquire), uses the model, drops it; the
 * request path borrows instead (store_borrow, below: no shared write).
 * store_put publishes a fully built and validated model by exchanging the
 * pointer; the old model is freed by whichever holder drops the last
 * reference, so a request never sees half of one version and half of
 * another, and a swap never waits for requests to finish.
 *
 * Thread-safety: all functions are safe from any thread.  The mutex is held
 * only for the pointer exchange and the reference increment.
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

/* Name requests use when they name none (NULL: the only model, if exactly one). */
enum error_code store_set_default(struct store *s, const char *name, struct error *err);

/*
 * A new reference to the model called name (NULL: the default), or NULL with
 * err: ERROR_UNAVAILABLE when nothing is loaded, ERROR_NOT_FOUND for an
 * unknown name, ERROR_INVALID when name is NULL and there is no default.
 */
struct model *store_acquire(struct store *s, const char *name, struct error *err);

/*
 * The same model as store_acquire, borrowed: no reference is taken for the
 * caller.  The pointer stays valid until this thread's next store_borrow.
 * The request path's way: the thread keeps one reference per model it
 * borrowed and hands the same pointer out again, with no lock and no
 * shared write, until any store changes (one atomic load says so).  So a
 * worker that goes idle keeps the version it last served in memory until
 * its next request or its end.
 */
struct model *store_borrow(struct store *s, const char *name, struct error *err);

/* Publish m (the reference is taken), replacing any model of the same name. */
void store_put(struct store *s, struct model *m);

/* Version served for name, or 0. */
int store_version(struct store *s, const char *name);

/* New references to every model, sorted by name; *n their count; free with store_release_all. */
struct model **store_snapshot(struct store *s, size_t *n);
void store_release_all(struct model **models, size_t n);

/* Is the default model (or, without one configured, any model) loaded? */
bool store_ready(struct store *s, char *reason, size_t reason_size);

#endif
