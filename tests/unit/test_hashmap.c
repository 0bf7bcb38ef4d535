/* Unit tests: hashmap, byte-string keys to int32 values, and its hash. */
#include "testutil.h"

#include "shelfcast/hashmap.h"

static void test_hashmap_keeps_the_first_value_and_grows(void **state)
{
	struct hashmap *m = hashmap_new(1);
	char key[32];
	int i;
	(void)state;
	assert_non_null(m);
	assert_int_equal(hashmap_count(m), 0);
	for (i = 0; i < 5000; i++) {
		int n = snprintf(key, sizeof key, "k%d", i);
		assert_int_equal(hashmap_put(m, key, (size_t)n, i), i);
	}
	assert_int_equal(hashmap_put(m, "k7", 2, 99), 7);
	assert_int_equal(hashmap_count(m), 5000);
	for (i = 0; i < 5000; i++) {
		int n = snprintf(key, sizeof key, "k%d", i);
		assert_int_equal(hashmap_get(m, key, (size_t)n), i);
	}
	assert_int_equal(hashmap_get(m, "missing", 7), -1);
	assert_int_equal(hashmap_get(m, "k1\0", 3), -1); /* lengths are part of the key */
	hashmap_free(m);
	hashmap_free(NULL);
}

/* Keys are bytes: embedded NULs and the empty key are keys like any other, and the map keeps its own copy. */
static void test_hashmap_keys_are_bytes_copied_into_the_map(void **state)
{
	struct hashmap *m = hashmap_new(4);
	char key[8] = "ab\0cd";
	(void)state;
	assert_non_null(m);
	assert_int_equal(hashmap_put(m, key, 5, 1), 1);
	assert_int_equal(hashmap_put(m, key, 2, 2), 2);
	assert_int_equal(hashmap_put(m, "", 0, 3), 3);
	memset(key, 'z', sizeof key); /* the caller's buffer changes: the map's keys do not */
	assert_int_equal(hashmap_get(m, "ab\0cd", 5), 1);
	assert_int_equal(hashmap_get(m, "ab", 2), 2);
	assert_int_equal(hashmap_get(m, "", 0), 3);
	assert_int_equal(hashmap_get(m, "zzzzz", 5), -1);
	assert_int_equal(hashmap_count(m), 3);
	hashmap_free(m);
}

/* The word-at-a-time hash: every byte and the length count, whatever the alignment. */
static void test_hashmap_hash_sees_every_byte_and_the_length(void **state)
{
	char a[40], b[40];
	size_t len, i;
	(void)state;
	for (len = 0; len < 33; len++) {
		memset(a, 'x', sizeof a);
		assert_true(hashmap_hash(a, len, 0) != hashmap_hash(a, len + 1, 0));
		for (i = 0; i < len; i++) {
			memcpy(b, a, sizeof b);
			b[i] ^= 1;
			assert_true(hashmap_hash(a, len, 0) != hashmap_hash(b, len, 0));
		}
		/* the same bytes at another alignment, with other bytes around them: the same hash */
		memset(b, 'y', sizeof b);
		memcpy(b + 3, a, len);
		assert_true(hashmap_hash(a, len, 7) == hashmap_hash(b + 3, len, 7));
	}
	assert_true(hashmap_hash("ab", 2, 0) != hashmap_hash("ab\0", 3, 0));
	assert_true(hashmap_hash("ab", 2, 0) != hashmap_hash("ab", 2, 1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hashmap_keeps_the_first_value_and_grows),
		cmocka_unit_test(test_hashmap_keys_are_bytes_copied_into_the_map),
		cmocka_unit_test(test_hashmap_hash_sees_every_byte_and_the_length),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
