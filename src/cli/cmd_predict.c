/* shelfcast train / predict / demo-data — filled in by the trainer. */
#include <stdio.h>

#include "cli.h"

int cmd_predict(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "shelfcast predict: not built yet\n");
	return EXIT_USAGE;
}
