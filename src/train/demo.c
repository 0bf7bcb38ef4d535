/* demo — see include/shelfcast/demo.h. */
#include "shelfcast/demo.h"

#include <math.h>
#include <string.h>

#include "shelfcast/rng.h"

#define N_LEVELS 4

static const double discount[N_LEVELS] = {0.0, 0.10, 0.20, 0.30};
static const double level_cost[N_LEVELS] = {0.0, 15.0, 40.0, 80.0};

static const struct {
	const char *name;
	double ref_price, base, elasticity, response, ref_weight;
} categories[] = {
	{"beverages", 3.0, 4.0, 2.2, 0.35, 1.0},   {"snacks", 2.5, 4.2, 1.8, 0.45, 0.3},
	{"household", 8.0, 3.3, 1.4, 0.25, 2.0},   {"personal_care", 6.0, 3.5, 1.6, 0.30, 0.4},
	{"electronics", 40.0, 2.0, 1.2, 0.20, 1.5}, {"toys", 20.0, 2.6, 1.5, 0.40, 0.8},
};

static const struct {
	const char *name;
	double demand, exposure;
} brands[] = {
	{"Acme", 0.30, 0.6},  {"Borealis", 0.10, 0.0}, {"Cobalt", 0.00, -0.3}, {"Dune", -0.20, 0.2},
	{"Ember", 0.45, 0.8}, {"Fjord", -0.35, -0.6},  {"Gale", 0.15, 0.1},    {"Harbor", -0.10, -0.2},
};

#define N_CAT (sizeof categories / sizeof categories[0])
#define N_BRAND (sizeof brands / sizeof brands[0])

/* Uniform on (0, 1), never 0: Box-Muller takes its log. */
static double uniform(struct rng *r)
{
	return ((double)(rng_next(r) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

static double normal(struct rng *r)
{
	/* Box-Muller */
	return sqrt(-2.0 * log(uniform(r))) * cos(6.283185307179586 * uniform(r));
}

static double poisson(struct rng *r, double lambda)
{
	if (lambda < 30) {
		double l = exp(-lambda), p = 1.0;
		int k = 0;
		do {
			k++;
			p *= uniform(r);
		} while (p > l);
		return k - 1;
	} else {
		double x = floor(lambda + sqrt(lambda) * normal(r) + 0.5);
		return x < 0 ? 0 : x;
	}
}

static double expected_units(size_t c, size_t b, double price, double weight, int level)
{
	double p_eff = price * (1 - discount[level]);
	return exp(categories[c].base + brands[b].demand -
		   categories[c].elasticity * log(p_eff / categories[c].ref_price) -
		   0.2 * log(weight / categories[c].ref_weight) +
		   categories[c].response * (1 - exp(-0.9 * level)));
}

enum error_code demo_write(FILE *out, FILE *truth, size_t rows, uint64_t seed, struct error *err)
{
	struct rng r = {seed * 0x2545f4914f6cdd1dULL + 1};
	size_t i;
	int k;

	fprintf(out, "item_id,brand,category,price,weight_kg,promo_level,units,featured\n");
	if (truth) {
		fprintf(truth, "item_id,best_level");
		for (k = 0; k < N_LEVELS; k++)
			fprintf(truth, ",units_%d", k);
		for (k = 0; k < N_LEVELS; k++)
			fprintf(truth, ",revenue_%d", k);
		fprintf(truth, "\n");
	}
	for (i = 0; i < rows; i++) {
		size_t c = (size_t)(rng_next(&r) % N_CAT), b = (size_t)(rng_next(&r) % N_BRAND);
		double price = categories[c].ref_price * exp(0.35 * normal(&r));
		double weight = categories[c].ref_weight * exp(0.4 * normal(&r));
		int level = (int)(rng_next(&r) % N_LEVELS);
		double lambda = expected_units(c, b, price, weight, level);
		double units = poisson(&r, lambda * exp(0.2 * normal(&r)));
		double z = -1.5 + brands[b].exposure + 0.6 * level + 0.3 * log(lambda / 50.0);
		int featured = uniform(&r) < 1.0 / (1.0 + exp(-z));

		price = floor(price * 100 + 0.5) / 100;
		weight = floor(weight * 1000 + 0.5) / 1000;
		if (price < 0.01)
			price = 0.01;
		if (weight < 0.001)
			weight = 0.001;
		fprintf(out, "item-%06zu,%s,%s,%.2f,%.3f,%d,%.0f,%d\n", i + 1, brands[b].name,
			categories[c].name, price, weight, level, units, featured);
		if (truth) {
			double units_k[N_LEVELS], rev[N_LEVELS];
			int best = 0;
			for (k = 0; k < N_LEVELS; k++) {
				units_k[k] = expected_units(c, b, price, weight, k);
				rev[k] = units_k[k] * price * (1 - discount[k]) - level_cost[k];
				if (rev[k] > rev[best])
					best = k;
			}
			fprintf(truth, "item-%06zu,%d", i + 1, best);
			for (k = 0; k < N_LEVELS; k++)
				fprintf(truth, ",%.6g", units_k[k]);
			for (k = 0; k < N_LEVELS; k++)
				fprintf(truth, ",%.6g", rev[k]);
			fprintf(truth, "\n");
		}
	}
	if (ferror(out) || (truth && ferror(truth)))
		return error_set(err, ERROR_IO, NULL, "cannot write the demo data");
	return ERROR_OK;
}
