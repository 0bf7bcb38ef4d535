/* tls — see include/shelfcast/tls.h. */
#include "shelfcast/tls.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "shelfcast/util.h"

#define PEM_MAX (1 << 20)

enum error_code tls_check_key_mode(const char *path, struct error *err)
{
	struct stat st;

	if (stat(path, &st) != 0)
		return error_set(err, ERROR_IO, "tls_key", "cannot inspect --tls-key %s: %s", path,
				 strerror(errno));
	if (st.st_mode & (S_IRWXG | S_IRWXO))
		return error_set(err, ERROR_INVALID, "tls_key",
				 "--tls-key %s is open to group or others (mode %04o): make it "
				 "private (chmod 600) or accept that with --tls-allow-readable-key",
				 path, (unsigned)(st.st_mode & 07777));
	return ERROR_OK;
}

enum error_code tls_add_options(const char *cert, const char *key, bool allow_readable_key,
				char **cert_pem, char **key_pem, struct MHD_OptionItem *opts,
				size_t *n, struct error *err)
{
	enum error_code rc;
	size_t len;

	*cert_pem = *key_pem = NULL;
	if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
		return error_set(err, ERROR_INVALID, "tls",
				 "this libmicrohttpd was built without TLS support");
	rc = allow_readable_key ? ERROR_OK : tls_check_key_mode(key, err);
	if (!rc)
		rc = util_read_file(cert, PEM_MAX, cert_pem, &len, err);
	if (!rc)
		rc = util_read_file(key, PEM_MAX, key_pem, &len, err);
	if (rc) {
		free(*cert_pem);
		free(*key_pem);
		*cert_pem = *key_pem = NULL;
		return rc;
	}
	opts[(*n)++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, *cert_pem};
	opts[(*n)++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, *key_pem};
	opts[(*n)++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)TLS_PRIORITIES};
	return ERROR_OK;
}
