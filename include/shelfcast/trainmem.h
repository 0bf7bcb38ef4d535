/*
 * trainmem — what a training run will hold in memory, checked before it
 * allocates anything large, so a dataset too wide for the machine is refused
 * with the reason instead of exhausting memory or stalling in swap.
 *
 * The estimate follows train_run's allocations (src/train/train.c), with
 * E = model.members and B = learn_batch_rows:
 *   encoded rows       N x d floats (one-hot categoricals make d large)
 *   targets, split     N x 7 words
 *   networks           the larger of two peaks (ensemble.h):
 *                      training the last member: 7 copies of its parameters
 *                      (weights, gradients, Adam's two moments, best, running
 *                      average and its copy), one more with model.refit (the
 *                      early-stopping weights), the E - 1 members before it,
 *                      and B x (every layer width + 2 x the widest) floats of
 *                      activations and deltas;
 *                      packing: the E members and the packed network (each
 *                      hidden layer E times as wide, plus the baseline units),
 *                      forwarded LEARN_EVAL_ROWS rows at a time
 *   baselines          baseline.h: the dense (D, D) system up to
 *                      BASELINE_DENSE_MAX, else O(D) plus a 16 MiB row block
 * and is compared with the memory the process may still take: the smallest
 * of the kernel's MemAvailable, the cgroup's memory.max less memory.current,
 * and RLIMIT_AS / RLIMIT_DATA.
 *
 * Thread-safety: pure functions (they read /proc and /sys).
 */
#ifndef SHELFCAST_TRAINMEM_H
#define SHELFCAST_TRAINMEM_H

#include <stddef.h>

#include "shelfcast/dataset.h"
#include "shelfcast/error.h"
#include "shelfcast/spec.h"

/* Bytes a run of cfg (its batch size, members, refit) on n_rows rows of this fitted spec needs at its peak. */
double trainmem_need(const struct spec *spec, const struct dataset_config *cfg, size_t n_rows);

/* Bytes this process may still allocate (see above); a very large number when nothing says. */
double trainmem_available(void);

/*
 * ERROR_TOO_LARGE when trainmem_need exceeds trainmem_available, naming
 * both, the rows x inputs behind them and the widest categorical feature,
 * and what to change in the dataset config.
 */
enum error_code trainmem_check(const struct spec *spec, const struct dataset_config *cfg,
			       size_t n_rows, struct error *err);

#endif
