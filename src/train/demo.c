/* demo — see include/shelfcast/demo.h. */
#include "shelfcast/demo.h"

#include <math.h>
#include <string.h>

#include "shelfcast/rng.h"

#define N_LEVELS 4

static const double discount[N_LEVELS] = {0.0, 0.10, 0.20, 0.30};
static const double level_cost[N_LEVELS] = {0.0, 15.0, 40.0, 80.0};

/*
 * An item's unit cost is U(LOW, HIGH) times its reference price.  The profit
 * optimum at level 0 is c e_c / (e_c - 1): 0.46 to 1.19 times the reference
 * price for beverages (e = 2.2), 1.5 to 3.9 times for electronics (e = 1.2),
 * so within +-30 % of it some items' optimum is inside and others' at a bound.
 */
#define UNIT_COST_LOW 0.25
#define UNIT_COST_HIGH 0.65

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

static double cents(double x)
{
	x = floor(x * 100 + 0.5) / 100;
	return x < 0.01 ? 0.01 : x;
}

enum error_code demo_write(FILE *out, FILE *truth, size_t rows, uint64_t seed, struct error *err)
{
	/*
	 * Two streams: r draws what the catalog had before reference prices and
	 * unit costs existed (so its columns stay byte for byte what they were
	 * for a seed), item draws the rest.
	 */
	struct rng r = {seed * 0x2545f4914f6cdd1dULL + 1};
	struct rng item = {seed * 0x9e3779b97f4a7c15ULL + 0x632be59bd9b4e019ULL};
	size_t i;
	int k;

	fprintf(out, "item_id,brand,category,price,weight_kg,promo_level,units,featured,unit_cost\n");
	if (truth) {
		fprintf(truth, "item_id,best_level");
		for (k = 0; k < N_LEVELS; k++)
			fprintf(truth, ",units_%d", k);
		for (k = 0; k < N_LEVELS; k++)
			fprintf(truth, ",revenue_%d", k);
		fprintf(truth, ",reference_price,unit_cost,elasticity");
		for (k = 0; k < N_LEVELS; k++)
			fprintf(truth, ",scale_%d", k);
		fprintf(truth, "\n");
	}
	for (i = 0; i < rows; i++) {
		size_t c = (size_t)(rng_next(&r) % N_CAT), b = (size_t)(rng_next(&r) % N_BRAND);
		double z = normal(&r);
		double price = categories[c].ref_price * exp(0.35 * z);
		double weight = categories[c].ref_weight * exp(0.4 * normal(&r));
		int level = (int)(rng_next(&r) % N_LEVELS);
		double lambda = expected_units(c, b, price, weight, level);
		double units = poisson(&r, lambda * exp(0.2 * normal(&r)));
		double z_featured = -1.5 + brands[b].exposure + 0.6 * level + 0.3 * log(lambda / 50.0);
		int featured = uniform(&r) < 1.0 / (1.0 + exp(-z_featured));
		/*
		 * ln(price / ref_c) = 0.35 z = 0.28 u + 0.21 v with u = 0.8 z + 0.6 w,
		 * v = 0.6 z - 0.8 w: (u, v) is a rotation of (z, w), two independent
		 * standard normals, so the reference price ref_c exp(0.28 u) and the
		 * listed price's move from it exp(0.21 v) are drawn independently.
		 */
		double w = normal(&item);
		double reference = cents(categories[c].ref_price * exp(0.28 * (0.8 * z + 0.6 * w)));
		double unit_cost = cents(reference * (UNIT_COST_LOW + (UNIT_COST_HIGH - UNIT_COST_LOW) *
								       uniform(&item)));

		price = cents(price);
		weight = floor(weight * 1000 + 0.5) / 1000;
		if (weight < 0.001)
			weight = 0.001;
		fprintf(out, "item-%06zu,%s,%s,%.2f,%.3f,%d,%.0f,%d,%.2f\n", i + 1, brands[b].name,
			categories[c].name, price, weight, level, units, featured, unit_cost);
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
			fprintf(truth, ",%.2f,%.2f,%g", reference, unit_cost, categories[c].elasticity);
			for (k = 0; k < N_LEVELS; k++)
				fprintf(truth, ",%.9g", expected_units(c, b, 1.0, weight, k) /* scale_L: lambda at price 1 */);
			fprintf(truth, "\n");
		}
	}
	if (ferror(out) || (truth && ferror(truth)))
		return error_set(err, ERROR_IO, NULL, "cannot write the demo data");
	return ERROR_OK;
}
