/* Unit tests: sha256 against the FIPS 180-4 example vectors. */
#include "testutil.h"

#include "shelfcast/sha256.h"

static void hex_of(const char *msg, size_t len, char out[SHA256_HEX_SIZE])
{
	struct sha256 c;
	sha256_init(&c);
	sha256_update(&c, msg, len);
	sha256_final_hex(&c, out);
}

static void test_sha256_matches_the_fips_vectors(void **state)
{
	char hex[SHA256_HEX_SIZE], *million;
	struct sha256 c;
	size_t i;
	(void)state;
	hex_of("abc", 3, hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	hex_of("", 0, hex);
	assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	hex_of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, hex);
	assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	/* a million 'a', fed in uneven pieces */
	million = malloc(1000000);
	assert_non_null(million);
	memset(million, 'a', 1000000);
	sha256_init(&c);
	for (i = 0; i < 1000000;) {
		size_t n = (i * 7 + 13) % 997 + 1;
		if (n > 1000000 - i)
			n = 1000000 - i;
		sha256_update(&c, million + i, n);
		i += n;
	}
	sha256_final_hex(&c, hex);
	assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	free(million);
}

/*
 * Around the block size (where the padding takes one block or two) the
 * digest does not depend on how the message is cut into updates, and the hex
 * digest spells the binary one.
 */
static void test_sha256_does_not_depend_on_how_the_message_is_cut(void **state)
{
	unsigned char msg[200];
	size_t len, i, cut;
	(void)state;
	for (i = 0; i < sizeof msg; i++)
		msg[i] = (unsigned char)(i * 31 + 7);
	for (len = 0; len <= 130; len++) {
		struct sha256 one, bytes, two;
		uint8_t d1[SHA256_DIGEST_SIZE], d2[SHA256_DIGEST_SIZE], d3[SHA256_DIGEST_SIZE];
		char hex[SHA256_HEX_SIZE], spelled[SHA256_HEX_SIZE];
		sha256_init(&one);
		sha256_update(&one, msg, len);
		sha256_final(&one, d1);
		sha256_init(&bytes);
		for (i = 0; i < len; i++)
			sha256_update(&bytes, msg + i, 1);
		sha256_final(&bytes, d2);
		cut = len / 3;
		sha256_init(&two);
		sha256_update(&two, msg, cut);
		sha256_update(&two, msg, 0);
		sha256_update(&two, msg + cut, len - cut);
		sha256_final(&two, d3);
		if (memcmp(d1, d2, sizeof d1) || memcmp(d1, d3, sizeof d1))
			fail_msg("%zu bytes: the digest depends on the updates", len);
		hex_of((const char *)msg, len, hex);
		for (i = 0; i < SHA256_DIGEST_SIZE; i++)
			snprintf(spelled + 2 * i, 3, "%02x", d1[i]);
		assert_string_equal(hex, spelled);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sha256_matches_the_fips_vectors),
		cmocka_unit_test(test_sha256_does_not_depend_on_how_the_message_is_cut),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
