/*
 * A real nginx for the fetch tests and benchmarks, started from Debian's
 * nginx-light with a configuration of its own in a temporary directory,
 * on 127.0.0.1 ports picked when it starts, with certificates made there
 * by openssl(1): a private CA, a server certificate for localhost and
 * 127.0.0.1, and a client certificate.  Nothing leaves the machine.
 *
 * Servers (all serve the directory www/: hello.txt, big.txt, and
 * private/ behind basic auth "weft:secret"):
 *   http      HTTP/1.1, gzip for text
 *   https     TLS, HTTP/2 offered by ALPN, and HTTP/1.1
 *   h2c       HTTP/2 over cleartext, prior knowledge only
 *   mtls      TLS, a client certificate signed by the CA required
 *   proxy     a forward proxy for http:// URLs, which answers with
 *             "X-Proxied-By: weft-test-nginx"
 * The access log records each request's server port, connection number
 * and whether its TLS session was resumed, so a test can count
 * connections and resumptions.  On https, /once/ serves www/ but closes
 * the connection after each request.
 */
#ifndef WEFT_TEST_NGINX_H
#define WEFT_TEST_NGINX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define NGINX_HELLO "hello from nginx\n"

struct nginx {
	pid_t pid;
	char dir[64];
	uint16_t http, https, h2c, mtls, proxy;
	char ca[128], client_cert[128], client_key[128];
	size_t big_len;                 /* bytes of www/big.txt */
};

/*
 * Make the certificates and the configuration and start nginx; 0 once it
 * accepts connections on every port, or -1 with why filled in (nginx or
 * openssl absent, or failing).
 */
int nginx_start(struct nginx *n, char *why, size_t whylen);
/* Stop nginx and remove its directory. */
void nginx_stop(struct nginx *n);
/* The distinct connections that requests to port used so far; -1 if the
 * log cannot be read. */
long nginx_connections(const struct nginx *n, uint16_t port);
/* Requests to port made on a resumed TLS session; -1 as below. */
long nginx_resumed(const struct nginx *n, uint16_t port);
/* Requests to port that the log shows so far; -1 if it cannot be read. */
long nginx_requests(const struct nginx *n, uint16_t port);
/* path inside n's www/ into buf (for comparing bodies). */
int nginx_www_path(const struct nginx *n, const char *name, char *buf,
    size_t cap);

#endif /* WEFT_TEST_NGINX_H */
