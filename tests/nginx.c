/*
 * nginx for the tests: certificates, configuration, start and stop.  See
 * nginx.h.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "nginx.h"

extern char **environ;

static const char *const nginx_paths[] = {
	"/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx", NULL
};

static const char *find_nginx(void)
{
	const char *const *p;

	for (p = nginx_paths; *p; p++)
		if (access(*p, X_OK) == 0)
			return *p;
	return NULL;
}

static void say(char *why, size_t cap, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, cap, fmt, ap);
	va_end(ap);
}

/* A free port on 127.0.0.1 (free when asked: nginx takes it next). */
static uint16_t free_port(void)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	uint16_t port = 0;

	if (fd < 0)
		return 0;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static int accepts(uint16_t port)
{
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), ok;

	if (fd < 0)
		return 0;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons(port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return ok;
}

static int write_file(const char *dir, const char *name, const char *text)
{
	char path[256];
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (!(f = fopen(path, "w")))
		return -1;
	ok = fputs(text, f) >= 0;
	return fclose(f) == 0 && ok ? 0 : -1;
}

/* www/big.txt: numbered lines of text, which gzip shrinks well. */
static long write_big(const char *dir)
{
	char path[256];
	FILE *f;
	long i, n = 0;

	snprintf(path, sizeof(path), "%s/www/big.txt", dir);
	if (!(f = fopen(path, "w")))
		return -1;
	for (i = 0; i < 6000; i++)
		n += fprintf(f, "line %06ld: the quick brown fox jumps over the lazy dog\n", i);
	return fclose(f) == 0 ? n : -1;
}

/* The CA, a server certificate for localhost and 127.0.0.1, a client
 * certificate; elliptic-curve keys, which are quick to make. */
static int make_certs(const char *dir)
{
	char cmd[2048];
	const char *key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";

	if (write_file(dir, "server.ext",
	    "subjectAltName=DNS:localhost,IP:127.0.0.1\n") != 0)
		return -1;
	snprintf(cmd, sizeof(cmd),
	    "cd '%s' && { "
	    "openssl req -x509 %s -keyout ca.key -out ca.pem -days 2 -subj /CN=weft-test-ca && "
	    "openssl req %s -keyout server.key -out server.csr -subj /CN=localhost && "
	    "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
	    "-out server.pem -days 2 -extfile server.ext && "
	    "openssl req %s -keyout client.key -out client.csr -subj /CN=weft-client && "
	    "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
	    "-out client.pem -days 2; } >openssl.log 2>&1",
	    dir, key, key, key);
	return system(cmd) == 0 ? 0 : -1;
}

static int write_conf(const struct nginx *n)
{
	char path[256];
	const char *d = n->dir;
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "%s/nginx.conf", d);
	if (!(f = fopen(path, "w")))
		return -1;
	if (geteuid() == 0)
		fputs("user root;\n", f);     /* workers read our 0700 dir */
	fprintf(f,
	    "daemon off;\nworker_processes 1;\npid %s/nginx.pid;\n"
	    "error_log %s/error.log warn;\n"
	    "events { worker_connections 4096; }\n"
	    "http {\n"
	    "  log_format conns '$server_port $connection $status $server_protocol \"$request\" $ssl_session_reused';\n"
	    "  access_log %s/access.log conns;\n"
	    "  client_body_temp_path %s/tmp/body;\n  proxy_temp_path %s/tmp/proxy;\n"
	    "  fastcgi_temp_path %s/tmp/fastcgi;\n  uwsgi_temp_path %s/tmp/uwsgi;\n"
	    "  scgi_temp_path %s/tmp/scgi;\n"
	    "  default_type text/plain;\n  keepalive_requests 1000000;\n"
	    "  gzip on;\n  gzip_types text/plain;\n  gzip_min_length 256;\n"
	    "  root %s/www;\n",
	    d, d, d, d, d, d, d, d, d);
	fprintf(f, "  server { listen 127.0.0.1:%u;\n"
	    "    location /private/ { auth_basic weft; auth_basic_user_file %s/htpasswd; } }\n",
	    (unsigned)n->http, d);
	fprintf(f, "  server { listen 127.0.0.1:%u ssl http2;\n"
	    "    ssl_certificate %s/server.pem; ssl_certificate_key %s/server.key;\n"
	    "    ssl_session_cache shared:weft:1m;\n"
	    "    location /once/ { keepalive_requests 1; alias %s/www/; } }\n",
	    (unsigned)n->https, d, d, d);
	fprintf(f, "  server { listen 127.0.0.1:%u http2; }\n", (unsigned)n->h2c);
	fprintf(f, "  server { listen 127.0.0.1:%u ssl;\n"
	    "    ssl_certificate %s/server.pem; ssl_certificate_key %s/server.key;\n"
	    "    ssl_client_certificate %s/ca.pem; ssl_verify_client on; }\n",
	    (unsigned)n->mtls, d, d, d);
	fprintf(f, "  server { listen 127.0.0.1:%u;\n"
	    "    location / { proxy_pass http://$http_host;\n"
	    "      add_header X-Proxied-By weft-test-nginx always; } }\n}\n",
	    (unsigned)n->proxy);
	ok = !ferror(f);
	return fclose(f) == 0 && ok ? 0 : -1;
}

static int make_dirs(struct nginx *n)
{
	static const char *const sub[] = { "www", "www/private", "tmp", NULL };
	const char *const *s;
	char path[256];

	snprintf(n->dir, sizeof(n->dir), "/tmp/weft-nginx-XXXXXX");
	if (!mkdtemp(n->dir))
		return -1;
	for (s = sub; *s; s++) {
		snprintf(path, sizeof(path), "%s/%s", n->dir, *s);
		if (mkdir(path, 0755) != 0)
			return -1;
	}
	return 0;
}

static int spawn_nginx(struct nginx *n, const char *bin)
{
	char conf[256], prefix[128], errlog[256];
	char *argv[] = { (char *)bin, "-p", prefix, "-c", conf, "-e", errlog, NULL };

	snprintf(conf, sizeof(conf), "%s/nginx.conf", n->dir);
	snprintf(prefix, sizeof(prefix), "%s/", n->dir);
	snprintf(errlog, sizeof(errlog), "%s/error.log", n->dir);
	return posix_spawn(&n->pid, bin, NULL, NULL, argv, environ) == 0 ? 0 : -1;
}

/* Wait (5 s at most) until every server accepts connections. */
static int wait_ready(const struct nginx *n)
{
	const uint16_t ports[] = { n->http, n->https, n->h2c, n->mtls, n->proxy };
	struct timespec ms10 = { 0, 10 * 1000 * 1000 };
	int tries, i, status;

	for (tries = 0; tries < 500; tries++) {
		for (i = 0; i < 5 && accepts(ports[i]); i++)
			;
		if (i == 5)
			return 0;
		if (waitpid(n->pid, &status, WNOHANG) == n->pid)
			return -1;              /* it exited: see error.log */
		nanosleep(&ms10, NULL);
	}
	return -1;
}

int nginx_start(struct nginx *n, char *why, size_t cap)
{
	const char *bin = find_nginx();
	long big;

	memset(n, 0, sizeof(*n));
	n->pid = -1;
	if (!bin) {
		say(why, cap, "nginx is not installed (Debian: nginx-light)");
		return -1;
	}
	if (system("openssl version >/dev/null 2>&1") != 0) {
		say(why, cap, "openssl(1) is not installed");
		return -1;
	}
	if (make_dirs(n) != 0) {
		say(why, cap, "cannot make a directory in /tmp: %s", strerror(errno));
		return -1;
	}
	snprintf(n->ca, sizeof(n->ca), "%s/ca.pem", n->dir);
	snprintf(n->client_cert, sizeof(n->client_cert), "%s/client.pem", n->dir);
	snprintf(n->client_key, sizeof(n->client_key), "%s/client.key", n->dir);
	if (make_certs(n->dir) != 0) {
		say(why, cap, "openssl failed: see %s/openssl.log", n->dir);
		return -1;
	}
	if (write_file(n->dir, "www/hello.txt", NGINX_HELLO) != 0 ||
	    write_file(n->dir, "www/private/secret.txt", "secret\n") != 0 ||
	    write_file(n->dir, "htpasswd", "weft:{PLAIN}secret\n") != 0 ||
	    (big = write_big(n->dir)) < 0) {
		say(why, cap, "cannot write into %s", n->dir);
		return -1;
	}
	n->big_len = (size_t)big;
	n->http = free_port();
	n->https = free_port();
	n->h2c = free_port();
	n->mtls = free_port();
	n->proxy = free_port();
	if (write_conf(n) != 0 || spawn_nginx(n, bin) != 0 || wait_ready(n) != 0) {
		say(why, cap, "nginx did not start: see %s/error.log", n->dir);
		nginx_stop(n);
		return -1;
	}
	return 0;
}

void nginx_stop(struct nginx *n)
{
	char cmd[128];

	if (n->pid > 0) {
		kill(n->pid, SIGTERM);
		waitpid(n->pid, NULL, 0);
		n->pid = -1;
	}
	if (n->dir[0] && !getenv("WEFT_KEEP_NGINX")) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", n->dir);
		if (system(cmd) != 0)
			return;
	}
}

/* Count the log's lines for port: requests, or distinct connections. */
static long log_count(const struct nginx *n, uint16_t port, int distinct)
{
	char path[256], line[1024];
	unsigned long seen[4096];
	size_t nseen = 0, i;
	unsigned p;
	unsigned long conn;
	long count = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/access.log", n->dir);
	if (!(f = fopen(path, "r")))
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%u %lu", &p, &conn) != 2 || p != port)
			continue;
		if (!distinct) {
			count++;
			continue;
		}
		for (i = 0; i < nseen && seen[i] != conn; i++)
			;
		if (i == nseen && nseen < sizeof(seen) / sizeof(seen[0]))
			seen[nseen++] = conn;
	}
	fclose(f);
	return distinct ? (long)nseen : count;
}

long nginx_resumed(const struct nginx *n, uint16_t port)
{
	char path[256], line[1024];
	unsigned p;
	long count = 0;
	size_t len;
	FILE *f;

	snprintf(path, sizeof(path), "%s/access.log", n->dir);
	if (!(f = fopen(path, "r")))
		return -1;
	while (fgets(line, sizeof(line), f)) {
		len = strlen(line);
		if (sscanf(line, "%u", &p) == 1 && p == port && len >= 2 &&
		    line[len - 2] == 'r' && line[len - 3] == ' ')
			count++;
	}
	fclose(f);
	return count;
}

long nginx_connections(const struct nginx *n, uint16_t port)
{
	return log_count(n, port, 1);
}

long nginx_requests(const struct nginx *n, uint16_t port)
{
	return log_count(n, port, 0);
}

int nginx_www_path(const struct nginx *n, const char *name, char *buf,
    size_t cap)
{
	return snprintf(buf, cap, "%s/www/%s", n->dir, name) < (int)cap ? 0 : -1;
}
