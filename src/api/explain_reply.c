/* explain_reply — see include/shelfcast/explain_reply.h. */
#include "shelfcast/explain_reply.h"

#include <math.h>
#include <string.h>

#include "shelfcast/predict.h"

void explain_reply_write(struct strbuf *sb, struct explain_model *x, const float *row, int level)
{
	double sales[EXPLAIN_MAX_FEATURES], exposure[EXPLAIN_MAX_FEATURES];
	size_t order[EXPLAIN_MAX_FEATURES], i, j;

	explain_model_item(x, row, level, sales, exposure);
	/* insertion sort by |sales|, largest first, stable */
	for (i = 0; i < x->M; i++) {
		size_t f = i;
		for (j = i; j > 0 && fabs(sales[order[j - 1]]) < fabs(sales[f]); j--)
			order[j] = order[j - 1];
		order[j] = f;
	}
	strbuf_puts(sb, "{\"method\":\"shapley\",\"reference\":\"training\",\"sales_baseline\":");
	strbuf_json_double(sb, x->sales_baseline, PREDICT_DIGITS);
	strbuf_puts(sb, ",\"exposure_baseline\":");
	strbuf_json_double(sb, x->exposure_baseline, PREDICT_DIGITS);
	strbuf_puts(sb, ",\"contributions\":[");
	for (i = 0; i < x->M; i++) {
		size_t f = order[i];
		strbuf_puts(sb, i ? ",{\"feature\":" : "{\"feature\":");
		strbuf_json_string(sb, x->name[f], strlen(x->name[f]));
		strbuf_puts(sb, ",\"sales\":");
		strbuf_json_double(sb, sales[f], PREDICT_DIGITS);
		strbuf_puts(sb, ",\"exposure\":");
		strbuf_json_double(sb, exposure[f], PREDICT_DIGITS);
		strbuf_putc(sb, '}');
	}
	strbuf_puts(sb, "]}");
}
