/* Unit tests: the model store's refcounted swap under concurrent readers. */
#include "testutil.h"

#include <pthread.h>
#include <stdatomic.h>

#include "shelfcast/store.h"

static struct store *store;
static atomic_bool stop;
static atomic_long reads, torn;

static void *reader(void *arg)
{
	struct error err;
	/* arg NULL: store_acquire and model_unref; else store_borrow */
	while (!atomic_load(&stop)) {
		struct model *m;
		error_init(&err);
		m = arg ? store_borrow(store, NULL, &err) : store_acquire(store, NULL, &err);
		if (!m)
			continue;
		/* A version's weights are filled with its number: a torn model would mix them. */
		if (m->block[0] != (float)m->version || m->block[m->block_floats - 1] != (float)m->version)
			atomic_fetch_add(&torn, 1);
		atomic_fetch_add(&reads, 1);
		if (!arg)
			model_unref(m);
	}
	return NULL;
}

static struct model *versioned(int version)
{
	struct model *m = test_model(TEST_SPEC, 5, 0.1f, NULL);
	size_t i;
	m->version = version;
	for (i = 0; i < m->block_floats; i++)
		m->block[i] = (float)version;
	return m;
}

static void test_swaps_never_tear_or_free_a_model_in_use(void **state)
{
	pthread_t t[4];
	int i;
	(void)state;
	store = store_new();
	store_put(store, versioned(1));
	atomic_store(&stop, false);
	atomic_store(&reads, 0);
	for (i = 0; i < 4; i++) /* two acquire, two borrow */
		pthread_create(&t[i], NULL, reader, i % 2 ? store : NULL);
	for (i = 2; i < 300; i++)
		store_put(store, versioned(i));
	atomic_store(&stop, true);
	for (i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(atomic_load(&torn), 0);
	assert_true(atomic_load(&reads) > 0);
	assert_int_equal(store_version(store, "test"), 299);
	store_free(store);
}

/* A borrow is reused while nothing changes, follows a swap, and outlives the swap until the next borrow. */
static void test_borrow_follows_swaps(void **state)
{
	struct store *s = store_new();
	struct error err;
	struct model *a, *b, *c;
	(void)state;
	error_init(&err);
	assert_null(store_borrow(s, NULL, &err));
	assert_int_equal(err.code, ERROR_UNAVAILABLE);
	store_put(s, versioned(1));
	a = store_borrow(s, NULL, &err);
	assert_non_null(a);
	assert_int_equal(a->version, 1);
	assert_ptr_equal(store_borrow(s, NULL, &err), a); /* unchanged: the same pointer */
	assert_ptr_equal(store_borrow(s, "test", &err), a);
	a = store_borrow(s, NULL, &err);
	store_put(s, versioned(2));
	/* replaced, but this thread's reference keeps version 1 whole until its next borrow */
	assert_true(a->block[0] == 1.0f && a->block[a->block_floats - 1] == 1.0f);
	b = store_borrow(s, NULL, &err);
	assert_int_equal(b->version, 2);
	error_init(&err);
	assert_null(store_borrow(s, "nope", &err));
	assert_int_equal(err.code, ERROR_NOT_FOUND);
	c = store_borrow(s, "test", &err);
	assert_ptr_equal(c, b);
	store_free(s);
	/* a new store (perhaps at the old one's address) is not served from stale borrows */
	s = store_new();
	error_init(&err);
	assert_null(store_borrow(s, NULL, &err));
	assert_int_equal(err.code, ERROR_UNAVAILABLE);
	store_free(s);
}

static void test_default_model_rules(void **state)
{
	struct store *s = store_new();
	struct error err;
	struct model *m, *other;
	char reason[128];
	(void)state;
	error_init(&err);
	assert_null(store_acquire(s, NULL, &err));
	assert_int_equal(err.code, ERROR_UNAVAILABLE);
	assert_false(store_ready(s, reason, sizeof reason));
	store_put(s, test_model(TEST_SPEC, 5, 0.1f, NULL));
	m = store_acquire(s, NULL, &err);
	assert_non_null(m); /* the only model is the default */
	model_unref(m);
	other = test_model(TEST_SPEC, 6, 0.1f, NULL);
	snprintf(other->name, sizeof other->name, "other");
	store_put(s, other);
	error_init(&err);
	assert_null(store_acquire(s, NULL, &err)); /* two models, no default */
	assert_int_equal(err.code, ERROR_INVALID);
	error_init(&err);
	assert_null(store_acquire(s, "nope", &err));
	assert_int_equal(err.code, ERROR_NOT_FOUND);
	assert_int_equal(store_set_default(s, "other", &err), ERROR_OK);
	m = store_acquire(s, NULL, &err);
	assert_string_equal(m->name, "other");
	model_unref(m);
	assert_true(store_ready(s, reason, sizeof reason));
	store_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_swaps_never_tear_or_free_a_model_in_use),
		cmocka_unit_test(test_borrow_follows_swaps),
		cmocka_unit_test(test_default_model_rules),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
