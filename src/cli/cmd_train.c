/* shelfcast train / predict / demo-data — filled in by the trainer. */
#include <stdio.h>

#include "cli.h"

int cmd_train(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "shelfcast train: not built yet\n");
	return EXIT_USAGE;
}
