/*
 * tls — HTTPS settings for libmicrohttpd (GnuTLS underneath).
 *
 * Protocols: TLS 1.3 and 1.2 only.  Suites: forward-secret key exchange
 * ((EC)DHE; TLS 1.3 always is) with AEAD ciphers only (AES-GCM,
 * ChaCha20-Poly1305): no static RSA key exchange, no CBC, no SHA-1 MACs.
 * The private key file must not be readable or writable by group or
 * others, unless the operator accepts it explicitly (a Kubernetes secret
 * mounted with fsGroup is group-readable by design).
 *
 * Thread-safety: pure functions.
 */
#ifndef SHELFCAST_TLS_H
#define SHELFCAST_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <microhttpd.h>

#include "shelfcast/error.h"

/* The GnuTLS priority string given to libmicrohttpd (MHD_OPTION_HTTPS_PRIORITIES). */
#define TLS_PRIORITIES                                                                             \
	"SECURE256:+SECURE128:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-KX-ALL:+ECDHE-ECDSA:"          \
	"+ECDHE-RSA:-CIPHER-ALL:+AES-256-GCM:+CHACHA20-POLY1305:+AES-128-GCM:-MAC-ALL:+AEAD:"     \
	"%SERVER_PRECEDENCE"

/* How many options tls_add_options appends at most. */
#define TLS_N_OPTIONS 3

/*
 * Read the PEM certificate and private key, check the key file's mode
 * (refused when group or others may read or write it, unless
 * allow_readable_key), and append libmicrohttpd's certificate, key and
 * priority options to opts at *n (room for TLS_N_OPTIONS more).
 * *cert_pem and *key_pem are new, and must outlive the daemon (free them
 * after MHD_stop_daemon).  Errors name the file and the cause.
 */
enum error_code tls_add_options(const char *cert, const char *key, bool allow_readable_key,
				char **cert_pem, char **key_pem, struct MHD_OptionItem *opts,
				size_t *n, struct error *err);

/*
 * ERROR_OK when the key file at `path` (symbolic links followed) is private
 * to its owner; otherwise ERROR_INVALID naming the mode.
 */
enum error_code tls_check_key_mode(const char *path, struct error *err);

#endif
