/* Unit tests: listen — a --listen value split once, for serve's bind and the healthcheck's probe. */
#include "testutil.h"

#include <string.h>
#include <unistd.h>

#include "shelfcast/listen.h"

static void test_listen_split_takes_every_form_serve_accepts(void **state)
{
	static const struct {
		const char *spec, *host;
		unsigned port;
	} cases[] = {
		{"127.0.0.1:8080", "127.0.0.1", 8080}, {"9000", "", 9000},      {":9001", "", 9001},
		{"[::1]:443", "::1", 443},             {"*:80", "*", 80},       {"localhost:0", "localhost", 0},
		{"0.0.0.0:65535", "0.0.0.0", 65535},
	};
	char host[128];
	unsigned port;
	size_t i;
	(void)state;
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		port = 12345;
		if (!listen_split(cases[i].spec, host, sizeof host, &port))
			fail_msg("%s: refused", cases[i].spec);
		assert_string_equal(host, cases[i].host);
		assert_int_equal(port, cases[i].port);
	}
}

static void test_listen_split_refuses_what_is_no_address(void **state)
{
	static const char *const bad[] = {"",       "host:",   "127.0.0.1:65536", "[::1]",
					  "[::1]80", "[::1:80", "1.2.3.4:x",       "port",
					  "-1",     "80 ",     "[0123456789]:80", "[]:0",
					  "127.0.0.1:-0", ":+80", ": 80"};
	char host[8];
	unsigned port;
	size_t i;
	(void)state;
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (listen_split(bad[i], host, sizeof host, &port))
			fail_msg("%s: accepted", bad[i]);
}

static void test_listen_bind_takes_a_bare_port(void **state)
{
	char bound[64];
	struct error err;
	int fd = -1;
	(void)state;
	error_init(&err);
	assert_int_equal(listen_bind("0", &fd, bound, sizeof bound, &err), ERROR_OK);
	assert_true(fd >= 0);
	assert_true(strncmp(bound, "0.0.0.0:", 8) == 0);
	close(fd);
	assert_int_equal(listen_bind("localhost:99999", &fd, bound, sizeof bound, &err), ERROR_INVALID);
	assert_non_null(strstr(err.message, "--listen \"localhost:99999\""));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_listen_split_takes_every_form_serve_accepts),
		cmocka_unit_test(test_listen_split_refuses_what_is_no_address),
		cmocka_unit_test(test_listen_bind_takes_a_bare_port),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
