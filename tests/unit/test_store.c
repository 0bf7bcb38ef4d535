/* Unit tests: the model store's refcounted swap under concurrent readers. */
#include "testutil.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "shelfcast/store.h"

static struct store *store;
static atomic_bool stop;
static atomic_long reads, torn;

static void *reader(void *arg)
{
	struct store_borrower *b = arg ? store_borrower_new(store) : NULL;
	struct error err;
	/* arg NULL: store_acquire and model_unref; else a borrower, as a server worker has */
	while (!atomic_load(&stop)) {
		struct model *m;
		error_init(&err);
		if (b)
			store_borrow_begin(b);
		m = b ? store_borrow(b, NULL, &err) : store_acquire(store, NULL, &err);
		/* A version's weights are filled with its number: a torn model would mix them. */
		if (m && (m->block[0] != (float)m->version || m->block[m->block_floats - 1] != (float)m->version))
			atomic_fetch_add(&torn, 1);
		if (m)
			atomic_fetch_add(&reads, 1);
		if (b)
			store_borrow_end(b);
		else
			model_unref(m);
	}
	store_borrower_free(b);
	return NULL;
}

static void put(struct store *s, struct model *m)
{
	struct error err;
	error_init(&err);
	if (store_put(s, m, &err) != ERROR_OK)
		fail_msg("store_put: %s", err.message);
}

/* Version `version` with every weight equal to its number, set before the model is built. */
static struct model *versioned(int version)
{
	size_t n = test_weight_count(TEST_SPEC), i;
	float *w = malloc(n * sizeof *w);
	struct model *m;

	for (i = 0; i < n; i++)
		w[i] = (float)version;
	m = test_model_from("test", version, TEST_SPEC, w);
	free(w);
	return m;
}

static void test_swaps_never_tear_or_free_a_model_in_use(void **state)
{
	pthread_t t[4];
	int i;
	(void)state;
	store = store_new();
	put(store, versioned(1));
	atomic_store(&stop, false);
	atomic_store(&reads, 0);
	for (i = 0; i < 4; i++) /* two acquire, two borrow */
		pthread_create(&t[i], NULL, reader, i % 2 ? store : NULL);
	for (i = 2; i < 300; i++)
		put(store, versioned(i));
	atomic_store(&stop, true);
	for (i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(atomic_load(&torn), 0);
	assert_true(atomic_load(&reads) > 0);
	assert_int_equal(store_version(store, "test"), 299);
	store_free(store);
}

/* One borrow: begin, borrow, end. */
static struct model *borrow_once(struct store_borrower *b, const char *name, struct error *err)
{
	struct model *m;
	store_borrow_begin(b);
	m = store_borrow(b, name, err);
	store_borrow_end(b);
	return m;
}

/* A borrow is reused while nothing changes and follows a swap. */
static void test_borrow_follows_swaps(void **state)
{
	struct store *s = store_new();
	struct store_borrower *br = store_borrower_new(s);
	struct error err;
	struct model *a, *b;
	(void)state;
	error_init(&err);
	assert_null(borrow_once(br, NULL, &err));
	assert_int_equal(err.code, ERROR_UNAVAILABLE);
	put(s, versioned(1));
	a = borrow_once(br, NULL, &err);
	assert_non_null(a);
	assert_int_equal(a->version, 1);
	assert_ptr_equal(borrow_once(br, NULL, &err), a); /* unchanged: the same pointer */
	assert_ptr_equal(borrow_once(br, "test", &err), a);
	put(s, versioned(2));
	b = borrow_once(br, NULL, &err);
	assert_int_equal(b->version, 2);
	error_init(&err);
	assert_null(borrow_once(br, "nope", &err));
	assert_int_equal(err.code, ERROR_NOT_FOUND);
	assert_ptr_equal(borrow_once(br, "test", &err), b);
	store_borrower_free(br);
	store_free(s);
}

/* A borrower that went idle does not keep a replaced version alive. */
static void test_idle_borrower_lets_a_replaced_version_go(void **state)
{
	struct store *s = store_new();
	struct store_borrower *br = store_borrower_new(s);
	struct error err;
	struct model *v1 = versioned(1);
	(void)state;
	error_init(&err);
	model_ref(v1); /* the test's own reference, to watch the count */
	put(s, v1);
	assert_ptr_equal(borrow_once(br, NULL, &err), v1);
	assert_int_equal(atomic_load(&v1->refs), 3); /* the test, the store, the borrower */
	put(s, versioned(2));
	/* the store's and the idle borrower's references are gone at once, not at its next borrow */
	assert_int_equal(atomic_load(&v1->refs), 1);
	model_unref(v1);
	store_borrower_free(br);
	store_free(s);
}

/*
 * A swap does not wait for a borrow in progress: the borrowed version stays
 * whole and keeps its reference until the borrow ends, and is let go then.
 */
static void test_swap_does_not_wait_for_a_borrow_and_the_old_version_goes_at_its_end(void **state)
{
	struct store *s = store_new();
	struct store_borrower *br = store_borrower_new(s);
	struct model *v1 = versioned(1), *m;
	struct error err;
	(void)state;
	error_init(&err);
	model_ref(v1); /* the test's own reference, to watch the count */
	put(s, v1);
	store_borrow_begin(br);
	m = store_borrow(br, NULL, &err);
	assert_ptr_equal(m, v1);
	put(s, versioned(2)); /* this thread holds the borrow: the swap must not wait for it */
	assert_ptr_equal(store_borrow(br, NULL, &err), v1); /* the same model within the borrow */
	assert_int_equal(atomic_load(&v1->refs), 2);        /* the test, the borrower */
	assert_true(m->block[0] == 1.0f && m->block[m->block_floats - 1] == 1.0f);
	store_borrow_end(br);
	assert_int_equal(atomic_load(&v1->refs), 1);        /* let go at the borrow's end */
	assert_int_equal(borrow_once(br, NULL, &err)->version, 2);
	model_unref(v1);
	store_borrower_free(br);
	store_free(s);
}

/* Models handed out in a borrow are never let go before its end; past 8 in one borrow, an error. */
static void test_a_borrow_keeps_every_model_it_handed_out(void **state)
{
	float *w = calloc(test_weight_count(TEST_SPEC), sizeof *w);
	struct store *s = store_new();
	struct store_borrower *br = store_borrower_new(s);
	struct model *got[8];
	struct error err;
	char name[16];
	int i;
	(void)state;
	for (i = 0; i < 9; i++) {
		snprintf(name, sizeof name, "m%d", i);
		put(s, test_model_from(name, 1, TEST_SPEC, w));
	}
	store_borrow_begin(br);
	for (i = 0; i < 8; i++) {
		snprintf(name, sizeof name, "m%d", i);
		error_init(&err);
		got[i] = store_borrow(br, name, &err);
		assert_non_null(got[i]);
	}
	error_init(&err);
	assert_null(store_borrow(br, "m8", &err));
	assert_int_equal(err.code, ERROR_TOO_LARGE);
	for (i = 0; i < 8; i++)
		assert_int_equal(atomic_load(&got[i]->refs), 2); /* the store's and the borrower's */
	store_borrow_end(br);
	/* a new borrow may use a ninth model: one of the others makes room */
	error_init(&err);
	assert_non_null(borrow_once(br, "m8", &err));
	free(w);
	store_borrower_free(br);
	store_free(s);
}

/* A full store refuses a new name, says so, and keeps serving what it had. */
static void test_full_store_refuses_a_new_model(void **state)
{
	struct store *s = store_new();
	float *w = calloc(test_weight_count(TEST_SPEC), sizeof *w);
	struct error err;
	struct model *m;
	int i;
	(void)state;
	for (i = 0; i < 256; i++) {
		char name[16];
		snprintf(name, sizeof name, "m%d", i);
		put(s, test_model_from(name, 1, TEST_SPEC, w));
	}
	m = test_model_from("one-too-many", 1, TEST_SPEC, w);
	error_init(&err);
	assert_int_equal(store_put(s, m, &err), ERROR_TOO_LARGE);
	assert_non_null(strstr(err.message, "one-too-many"));
	assert_int_equal(store_version(s, "one-too-many"), 0);
	assert_int_equal(store_version(s, "m255"), 1);
	/* a new version of a served name still goes in */
	put(s, test_model_from("m7", 2, TEST_SPEC, w));
	assert_int_equal(store_version(s, "m7"), 2);
	free(w);
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
	put(s, test_model(TEST_SPEC, 5, 0.1f, NULL));
	m = store_acquire(s, NULL, &err);
	assert_non_null(m); /* the only model is the default */
	model_unref(m);
	other = test_model_named("other", TEST_SPEC, 6, 0.1f, NULL);
	put(s, other);
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

static const char *default_of(struct store *s)
{
	static char name[MODEL_NAME_MAX + 1];
	struct error err;
	struct model *m;

	error_init(&err);
	m = store_acquire(s, NULL, &err);
	snprintf(name, sizeof name, "%s", m ? m->name : err.message);
	model_unref(m);
	return name;
}

/* The only model at start stays the default when another arrives; the registry's flag ranks after it. */
static void test_default_is_stable(void **state)
{
	struct store *s = store_new();
	char name[MODEL_NAME_MAX + 1], reason[128];
	(void)state;
	assert_false(store_settle_default(s, NULL)); /* nothing loaded: nothing settled */
	assert_false(store_default_name(s, name, sizeof name));
	put(s, test_model_named("first", TEST_SPEC, 5, 0.1f, NULL));
	assert_true(store_settle_default(s, NULL));
	assert_true(store_default_name(s, name, sizeof name));
	assert_string_equal(name, "first");
	put(s, test_model_named("second", TEST_SPEC, 6, 0.1f, NULL));
	assert_false(store_settle_default(s, "second"));
	assert_string_equal(default_of(s), "first");
	store_free(s);

	/* several models at start: none is the default until the registry flags one */
	s = store_new();
	put(s, test_model_named("a", TEST_SPEC, 5, 0.1f, NULL));
	put(s, test_model_named("b", TEST_SPEC, 6, 0.1f, NULL));
	assert_false(store_settle_default(s, NULL));
	assert_non_null(strstr(default_of(s), "has no default"));
	assert_true(store_ready(s, reason, sizeof reason));
	assert_true(store_settle_default(s, "b"));
	assert_string_equal(default_of(s), "b");
	put(s, test_model_named("c", TEST_SPEC, 7, 0.1f, NULL));
	assert_false(store_settle_default(s, "b"));
	assert_string_equal(default_of(s), "b");
	assert_true(store_settle_default(s, "gone")); /* flagged but not served: not ready */
	assert_false(store_ready(s, reason, sizeof reason));
	assert_non_null(strstr(reason, "\"gone\" is not loaded"));
	assert_non_null(strstr(default_of(s), "not loaded yet"));
	/* --model outranks both */
	assert_int_equal(store_set_default(s, "a", NULL), ERROR_OK);
	assert_string_equal(default_of(s), "a");
	assert_true(store_ready(s, reason, sizeof reason));
	store_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_swaps_never_tear_or_free_a_model_in_use),
		cmocka_unit_test(test_borrow_follows_swaps),
		cmocka_unit_test(test_idle_borrower_lets_a_replaced_version_go),
		cmocka_unit_test(test_swap_does_not_wait_for_a_borrow_and_the_old_version_goes_at_its_end),
		cmocka_unit_test(test_a_borrow_keeps_every_model_it_handed_out),
		cmocka_unit_test(test_full_store_refuses_a_new_model),
		cmocka_unit_test(test_default_model_rules),
		cmocka_unit_test(test_default_is_stable),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
