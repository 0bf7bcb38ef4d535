/* shelfcast models — filled in by the registry. */
#include <stdio.h>

#include "cli.h"

int cmd_models(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "shelfcast models: not built yet\n");
	return EXIT_USAGE;
}
