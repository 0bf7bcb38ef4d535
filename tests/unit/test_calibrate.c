/* Unit tests: split-conformal quantiles and the smearing factor. */
#include "testutil.h"

#include <math.h>

#include "shelfcast/calibrate.h"
#include "shelfcast/heads.h"

static void test_calibrate_quantiles_are_conformal_ranks(void **state)
{
	struct spec s;
	struct error err;
	double r[99];
	size_t i;
	(void)state;
	memset(&s, 0, sizeof s);
	s.transform = SPEC_TRANSFORM_LOG1P;
	/* |r| = 0.01 .. 0.99 with alternating signs, unsorted */
	for (i = 0; i < 99; i++)
		r[i] = (i % 2 ? -1.0 : 1.0) * (double)((i * 37) % 99 + 1) / 100;
	error_init(&err);
	assert_int_equal(calibrate_fit(&s, r, 99, 0.8, NULL, -1, 0, &err), ERROR_OK);
	assert_true(s.has_calibration && s.interval == 0.8 && s.calibration_rows == 99);
	/* level 0.9: rank ceil(100 * 0.9) = 90 of 99 */
	assert_true(fabs(s.residual_q[180] - 0.90) < 1e-12);
	/* level 0.5: rank 50 */
	assert_true(fabs(s.residual_q[100] - 0.50) < 1e-12);
	/* level 1: past n, the largest */
	assert_true(fabs(s.residual_q[200] - 0.99) < 1e-12);
	assert_true(s.residual_q[0] == 0);
	for (i = 1; i < SPEC_RESIDUAL_QUANTILES; i++)
		assert_true(s.residual_q[i] >= s.residual_q[i - 1]);
	/* an interval at 0.9 around each row's own prediction covers 90 of them */
	{
		double h = heads_interval_halfwidth(&s, 0.9);
		size_t inside = 0;
		for (i = 0; i < 99; i++)
			inside += fabs(r[i]) <= h;
		assert_int_equal(inside, 90);
	}
}

static void test_calibrate_smearing_is_the_mean_of_exp_residuals(void **state)
{
	struct spec s;
	struct error err;
	double r[2] = {-0.5, 0.5};
	(void)state;
	memset(&s, 0, sizeof s);
	s.transform = SPEC_TRANSFORM_LOG1P;
	error_init(&err);
	assert_int_equal(calibrate_fit(&s, r, 2, 0.9, NULL, -1, 0, &err), ERROR_OK);
	assert_true(fabs(s.smearing - cosh(0.5)) < 1e-12);
	s.transform = SPEC_TRANSFORM_NONE;
	assert_int_equal(calibrate_fit(&s, r, 2, 0.9, NULL, -1, 0, &err), ERROR_OK);
	assert_true(s.smearing == 1);
	assert_int_equal(calibrate_fit(&s, r, 0, 0.9, NULL, -1, 0, &err), ERROR_INVALID);
	assert_string_equal(err.field, "model.validation_fraction");
}

/*
 * Mondrian: a table per category with enough rows, fitted on its rows alone
 * (a noisy category gets wide intervals, a quiet one narrow), the rest on
 * the global table; the spec's JSON keeps the groups and refuses bad ones.
 */
static void test_calibrate_by_category(void **state)
{
	enum { N = 3 * CALIBRATE_GROUP_MIN + 20 };
	struct spec s, back;
	struct error err;
	double r[N];
	size_t slot[N], i, inside[3] = {0}, count[3] = {0};
	float row[13] = {0};
	char *text;
	(void)state;

	error_init(&err);
	assert_int_equal(spec_parse_string(TEST_SPEC, strlen(TEST_SPEC), &s, &err), ERROR_OK);
	/* brand (categorical 0, vocabulary a b c): a quiet, b noisy, c 20 rows only */
	for (i = 0; i < N; i++) {
		slot[i] = i < 3 * CALIBRATE_GROUP_MIN ? i % 2 : 2;
		r[i] = (i % 3 ? -1.0 : 1.0) * (slot[i] == 1 ? 1.0 : 0.1) * (double)(i % 97 + 1) / 97;
	}
	assert_int_equal(calibrate_fit(&s, r, N, 0.9, slot, 0, 0, &err), ERROR_OK);
	assert_true(s.has_cal_by && s.n_cal_groups == 2 && s.cal_by == 0);
	assert_int_equal(s.cal_by_offset, 3); /* after the three numeric inputs */
	/* each group's 0.9 interval covers at least 90 % of its own rows */
	for (i = 0; i < N; i++) {
		double h;
		memset(row, 0, sizeof row);
		row[3 + slot[i]] = 1.0f;
		h = heads_interval_halfwidth_row(&s, 0.9, row);
		count[slot[i]]++;
		inside[slot[i]] += fabs(r[i]) <= h;
	}
	assert_true(inside[0] >= 0.9 * (double)count[0] && inside[1] >= 0.9 * (double)count[1]);
	memset(row, 0, sizeof row);
	row[3] = 1.0f;
	{
		double quiet = heads_interval_halfwidth_row(&s, 0.9, row);
		row[3] = 0.0f;
		row[4] = 1.0f;
		assert_true(heads_interval_halfwidth_row(&s, 0.9, row) > 5 * quiet);
		row[4] = 0.0f;
		row[5] = 1.0f; /* c: too few rows, the global table */
		assert_true(heads_interval_halfwidth_row(&s, 0.9, row) == heads_interval_halfwidth(&s, 0.9));
	}
	/* through the spec's JSON and back */
	text = spec_to_string(&s);
	assert_non_null(text);
	assert_int_equal(spec_parse_string(text, strlen(text), &back, &err), ERROR_OK);
	assert_true(back.has_cal_by && back.n_cal_groups == 2);
	assert_memory_equal(back.cal_group_q, s.cal_group_q, 2 * sizeof s.cal_group_q[0]);
	spec_done(&back);
	{ /* a category the input does not have, and a repeated one, are refused by name */
		static const struct {
			const char *from, *to, *field;
		} bad[] = {{"\"category\":\"a\"", "\"category\":\"zz\"", "calibration.by.groups[0].category"},
			   {"\"category\":\"b\"", "\"category\":\"a\"", "calibration.by.groups[1].category"},
			   {"\"feature\":\"brand\"", "\"feature\":\"price\"", "calibration.by.feature"}};
		for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
			char *at = strstr(text, bad[i].from), edited[65536];
			assert_non_null(at);
			snprintf(edited, sizeof edited, "%.*s%s%s", (int)(at - text), text, bad[i].to,
				 at + strlen(bad[i].from));
			error_init(&err);
			assert_int_equal(spec_parse_string(edited, strlen(edited), &back, &err), ERROR_INVALID);
			assert_string_equal(err.field, bad[i].field);
		}
	}
	free(text);
	spec_done(&s);
}

/*
 * model.interval_by_shrink: 1 gives every category the one table; in
 * between, each category's 0.9 half-width lies between its own table's and
 * the one table's (here the noisy one's lands on the one table's), and the categories' intervals together still cover 90 %
 * of the rows (one rank over all of them).
 */
static void test_calibrate_shrinks_category_scales_toward_the_one_table(void **state)
{
	enum { N = 3 * CALIBRATE_GROUP_MIN + 20 };
	struct spec s, own;
	struct error err;
	double r[N], h_own[2], h_one, h;
	size_t slot[N], i, j, inside = 0;
	float row[13] = {0};
	(void)state;

	error_init(&err);
	for (i = 0; i < N; i++) {
		slot[i] = i < 3 * CALIBRATE_GROUP_MIN ? i % 2 : 2;
		r[i] = (i % 3 ? -1.0 : 1.0) * (slot[i] == 1 ? 1.0 : 0.1) * (double)(i % 97 + 1) / 97;
	}
	assert_int_equal(spec_parse_string(TEST_SPEC, strlen(TEST_SPEC), &own, &err), ERROR_OK);
	assert_int_equal(calibrate_fit(&own, r, N, 0.9, slot, 0, 0, &err), ERROR_OK);
	for (j = 0; j < 2; j++) {
		memset(row, 0, sizeof row);
		row[3 + j] = 1.0f;
		h_own[j] = heads_interval_halfwidth_row(&own, 0.9, row);
	}
	h_one = heads_interval_halfwidth(&own, 0.9);

	assert_int_equal(spec_parse_string(TEST_SPEC, strlen(TEST_SPEC), &s, &err), ERROR_OK);
	assert_int_equal(calibrate_fit(&s, r, N, 0.9, slot, 0, 1, &err), ERROR_OK);
	for (j = 0; j < 2; j++)
		for (i = 0; i < SPEC_RESIDUAL_QUANTILES; i++)
			assert_true(fabs(s.cal_group_q[j][i] - s.residual_q[i]) <= 1e-12 * (1 + s.residual_q[i]));
	spec_done(&s);

	assert_int_equal(spec_parse_string(TEST_SPEC, strlen(TEST_SPEC), &s, &err), ERROR_OK);
	assert_int_equal(calibrate_fit(&s, r, N, 0.9, slot, 0, 0.5, &err), ERROR_OK);
	for (j = 0; j < 2; j++) {
		memset(row, 0, sizeof row);
		row[3 + j] = 1.0f;
		h = heads_interval_halfwidth_row(&s, 0.9, row);
		assert_true(h >= fmin(h_own[j], h_one) && h <= fmax(h_own[j], h_one));
	}
	for (i = 0; i < N; i++) {
		memset(row, 0, sizeof row);
		row[3 + slot[i]] = 1.0f;
		inside += fabs(r[i]) <= heads_interval_halfwidth_row(&s, 0.9, row);
	}
	assert_true((double)inside >= 0.9 * N);
	spec_done(&s);
	spec_done(&own);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_calibrate_quantiles_are_conformal_ranks),
		cmocka_unit_test(test_calibrate_smearing_is_the_mean_of_exp_residuals),
		cmocka_unit_test(test_calibrate_by_category),
		cmocka_unit_test(test_calibrate_shrinks_category_scales_toward_the_one_table),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
