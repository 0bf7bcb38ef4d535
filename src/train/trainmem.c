/* trainmem — see include/shelfcast/trainmem.h. */
#include "shelfcast/trainmem.h"

#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "shelfcast/baseline.h"
#include "shelfcast/ensemble.h"
#include "shelfcast/heads.h"
#include "shelfcast/learn.h"

#define GB (1024.0 * 1024.0 * 1024.0)

/*
 * The network of widths dims[0..L): its parameters into *params, the sum of
 * its widths into *acts; returns its widest layer (at least the heads).
 */
static double layer_sums(const size_t *dims, size_t L, double *params, double *acts)
{
	size_t l, widest = HEADS_COUNT;

	*params = 0;
	*acts = 0;
	for (l = 0; l + 1 < L; l++)
		*params += (double)dims[l + 1] * ((double)dims[l] + 1);
	for (l = 0; l < L; l++) {
		*acts += (double)dims[l];
		widest = dims[l] > widest ? dims[l] : widest;
	}
	return (double)widest;
}

double trainmem_need(const struct spec *spec, const struct dataset_config *cfg, size_t n_rows)
{
	size_t md[SPEC_MAX_HIDDEN + 2], pd[SPEC_MAX_HIDDEN + 2], L = spec_layer_dims(spec, md);
	size_t E = cfg->members ? cfg->members : 1;
	double N = (double)n_rows, d = (double)md[0], D = d + 1, B = (double)learn_batch_rows(cfg);
	double m_params, m_acts, m_widest, p_params, p_acts, p_widest, training, packing, base;
	/* model.recent_weight: split.h's fit_train, fit_all (fit_cal) and the learner's copy, at most this long */
	double fit = cfg->recent_weight > 1
			     ? N * (1 + cfg->recent_fraction * (cfg->recent_weight - 1)) * 4 * 8
			     : 0;
	double cal;

	m_widest = layer_sums(md, L, &m_params, &m_acts);
	/* model.calibration_fraction: cal and cal_train, the routed marks, one more network's weights */
	cal = cfg->calibration_fraction > 0 ? N * (8 + 1) + m_params * 4 : 0;
	ensemble_packed_dims(spec, E, pd);
	p_widest = layer_sums(pd, L, &p_params, &p_acts);
	/* the last member in training (with the E - 1 before it kept), or all E and the packed net */
	training = ((double)E - 1 + 7 + (cfg->refit ? 1 : 0)) * m_params * 4 +
		   B * (m_acts + 2 * m_widest) * 4;
	packing = ((double)E * m_params + p_params) * 4 +
		  (double)LEARN_EVAL_ROWS * (p_acts + 2 * p_widest) * 4;
	base = D <= BASELINE_DENSE_MAX ? D * D * 8 + 2048 * D * 8 : 23 * D * 8 + (16 << 20);
	return N * d * 4                          /* encoded rows */
	       + N * 7 * 8 + fit + cal            /* targets, split indices */
	       + (training > packing ? training : packing) /* networks */
	       + base + N * 3 * 8;                /* baselines */
}

/* A "name value" line of a /proc or /sys file, in bytes (kB lines scaled), or -1. */
static double read_value(const char *path, const char *name)
{
	FILE *f = fopen(path, "re");
	char line[256];
	double v = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof line, f)) {
		size_t n = strlen(name);
		double x;
		if (strncmp(line, name, n) || sscanf(line + n, " %lf", &x) != 1)
			continue;
		v = strstr(line, "kB") ? x * 1024 : x;
		break;
	}
	fclose(f);
	return v;
}

double trainmem_available(void)
{
	double avail = read_value("/proc/meminfo", "MemAvailable:"), max, cur;
	int which[2] = {RLIMIT_AS, RLIMIT_DATA}, i;

	if (avail < 0)
		avail = 1e300;
	/* cgroup v2: "max" does not parse as a number, which means no limit */
	max = read_value("/sys/fs/cgroup/memory.max", "");
	cur = read_value("/sys/fs/cgroup/memory.current", "");
	if (max >= 0 && cur >= 0 && max - cur < avail)
		avail = max > cur ? max - cur : 0;
	for (i = 0; i < 2; i++) {
		struct rlimit rl;
		if (getrlimit(which[i], &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
		    (double)rl.rlim_cur < avail)
			avail = (double)rl.rlim_cur;
	}
	return avail;
}

enum error_code trainmem_check(const struct spec *spec, const struct dataset_config *cfg,
			       size_t n_rows, struct error *err)
{
	double need = trainmem_need(spec, cfg, n_rows), avail = trainmem_available();
	size_t j, widest = 0;

	if (need <= avail)
		return ERROR_OK;
	for (j = 1; j < spec->n_categorical; j++)
		if (spec->categorical[j].n_vocabulary > spec->categorical[widest].n_vocabulary)
			widest = j;
	return error_set(err, ERROR_TOO_LARGE, "cleaning.min_count",
			 "training would need about %.1f GB (%zu rows x %zu encoded inputs, as 4-byte "
			 "floats, is %.1f GB%s%s%s%zu categories), more than the %.1f GB this process "
			 "may still take: raise cleaning.min_count or lower cleaning.max_categories "
			 "(rarer categories share the unknown slot), or train on fewer rows",
			 need / GB, n_rows, spec->input_size,
			 (double)n_rows * (double)spec->input_size * 4 / GB,
			 spec->n_categorical ? "; feature " : "",
			 spec->n_categorical ? spec->categorical[widest].name : "",
			 spec->n_categorical ? " alone has " : "",
			 spec->n_categorical ? spec->categorical[widest].n_vocabulary : 0, avail / GB);
}
