/*
 * weft_dial and weft_listen: every network, the address forms, the RFC
 * 8305 race between addresses, errors, deadlines and cancellation, and
 * the calls outside a task.
 *
 * Host names with both families are not to be had on every machine, and
 * no test may leave it: this program defines getaddrinfo(3) itself, so
 * the names under ".weft.test" resolve to address lists the tests write
 * (libweft's calls reach this definition before libc's); every other
 * name goes to libc.
 */
#include "config.h"

#include <check.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "weft.h"
#include "test_util.h"

/* ---- a resolver the tests control ------------------------------------------ */

enum { MAX_FAKE = 4 };

/* The list "race.weft.test" resolves to, in this order. */
static struct sockaddr_storage g_fake[MAX_FAKE];
static int g_nfake;

static void fake_clear(void)
{
	g_nfake = 0;
}

static void fake_add_v4(uint16_t port)
{
	struct sockaddr_in *a = (struct sockaddr_in *)&g_fake[g_nfake++];

	*a = loopback_addr(port);
}

static void fake_add_v6(uint16_t port)
{
	struct sockaddr_in6 *a = (struct sockaddr_in6 *)&g_fake[g_nfake++];

	memset(a, 0, sizeof(*a));
	a->sin6_family = AF_INET6;
	a->sin6_addr = in6addr_loopback;
	a->sin6_port = htons(port);
}

/* One block per entry, as glibc's freeaddrinfo expects (it frees the
 * entry and its canonical name). */
static struct addrinfo *fake_entry(const struct sockaddr_storage *ss,
    int socktype)
{
	struct addrinfo *ai = calloc(1, sizeof(*ai) + sizeof(*ss));

	if (!ai)
		return NULL;
	ai->ai_family = ss->ss_family;
	ai->ai_socktype = socktype;
	ai->ai_protocol = socktype == SOCK_STREAM ? IPPROTO_TCP : IPPROTO_UDP;
	ai->ai_addr = (struct sockaddr *)(ai + 1);
	ai->ai_addrlen = ss->ss_family == AF_INET ?
	    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
	memcpy(ai->ai_addr, ss, ai->ai_addrlen);
	return ai;
}

/* Visible: the build hides symbols by default. */
__attribute__((visibility("default")))
int getaddrinfo(const char *node, const char *service,
    const struct addrinfo *hints, struct addrinfo **res)
{
	static int (*real)(const char *, const char *,
	    const struct addrinfo *, struct addrinfo **);
	struct addrinfo *head = NULL, **tail = &head;
	int i;

	if (!node || strcmp(node, "race.weft.test") != 0) {
		if (!real)
			*(void **)&real = dlsym(RTLD_NEXT, "getaddrinfo");
		return real(node, service, hints, res);
	}
	for (i = 0; i < g_nfake; i++) {
		if (hints && hints->ai_family != AF_UNSPEC &&
		    hints->ai_family != g_fake[i].ss_family)
			continue;
		if (!(*tail = fake_entry(&g_fake[i], hints && hints->ai_socktype ?
		    hints->ai_socktype : SOCK_STREAM)))
			return EAI_MEMORY;
		tail = &(*tail)->ai_next;
	}
	*res = head;
	return head ? 0 : EAI_NONAME;
}

/* ---- servers ---------------------------------------------------------------- */

static uint16_t port_of(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		return 0;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

static int peer_family(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getpeername(fd, (struct sockaddr *)&ss, &len) != 0)
		return -1;
	return ss.ss_family;
}

static int flags_blocking_cloexec(int fd)
{
	return !(fcntl(fd, F_GETFL) & O_NONBLOCK) &&
	    (fcntl(fd, F_GETFD) & FD_CLOEXEC);
}

/*
 * A listener no connection gets through to: its queue is full, so the
 * kernel drops further SYNs and a connect stays in progress.  The fillers
 * are kept in fill[]; 0 if it could not be made so.
 */
static int hanging_listener(int family, int fill[8], int *nfill)
{
	const char *addr = family == AF_INET ? "127.0.0.1:0" : "[::1]:0";
	int l = weft_listen(family == AF_INET ? "tcp4" : "tcp6", addr, 0);
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int i;

	if (l < 0 || getsockname(l, (struct sockaddr *)&ss, &len) != 0)
		return -1;
	*nfill = 0;
	for (i = 0; i < 8; i++) {
		int c = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		struct pollfd p = { .fd = c, .events = POLLOUT, .revents = 0 };

		fill[(*nfill)++] = c;
		if (connect(c, (struct sockaddr *)&ss, len) != 0 &&
		    errno != EINPROGRESS)
			break;
		if (poll(&p, 1, 100) == 0)
			return l;             /* this one hangs: so will the next */
	}
	return -1;
}

static void close_all(int *fds, int n)
{
	while (n > 0)
		close(fds[--n]);
}

/* ---- echo over what weft_dial gives ----------------------------------------- */

struct echo {
	int listener;
	int accepted;
	char got[16];
	ssize_t n;
};

static void *echo_once(void *arg)
{
	struct echo *e = arg;
	int c = weft_accept(e->listener, NULL, NULL);

	e->accepted = c;
	if (c < 0)
		return NULL;
	e->n = weft_read(c, e->got, sizeof(e->got));
	if (e->n > 0 && weft_write(c, e->got, (size_t)e->n) != e->n)
		e->n = -1;
	weft_close(c);
	return NULL;
}

struct dialer {
	const char *network, *address;
	int fd, err, family;
	char reply[16];
	ssize_t n;
	int64_t took;
};

static void *dial_and_talk(void *arg)
{
	struct dialer *d = arg;
	int64_t t0 = weft_now();

	errno = 0;
	d->fd = weft_dial(d->network, d->address);
	d->err = errno;
	d->took = weft_now() - t0;
	if (d->fd < 0)
		return NULL;
	d->family = peer_family(d->fd);
	if (weft_write(d->fd, "ping", 4) == 4)
		d->n = weft_read(d->fd, d->reply, sizeof(d->reply));
	return NULL;
}

/* A dialler and an echo server on listener l, in tasks. */
static void talk(int l, struct dialer *d)
{
	struct echo e = { .listener = l, .accepted = -1, .n = -1 };

	d->n = -1;
	run_pair(echo_once, &e, dial_and_talk, d);
	ck_assert_msg(d->fd >= 0, "weft_dial(%s, %s): %s", d->network,
	    d->address, strerror(d->err));
	ck_assert_int_eq(d->n, 4);
	ck_assert(memcmp(d->reply, "ping", 4) == 0);
	ck_assert(flags_blocking_cloexec(d->fd));
	weft_close(d->fd);
}

START_TEST(tcp_listen_and_dial)
{
	char addr[64];
	struct dialer d = { .network = "tcp", .address = addr };
	int l = weft_listen("tcp", "127.0.0.1:0", 16);

	ck_assert_int_ge(l, 0);
	ck_assert(flags_blocking_cloexec(l));
	ck_assert_uint_gt(port_of(l), 0);
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", port_of(l));
	talk(l, &d);
	ck_assert_int_eq(d.family, AF_INET);
	/* By name, and with the port as a service name would be. */
	snprintf(addr, sizeof(addr), "localhost:%u", port_of(l));
	talk(l, &d);
	weft_close(l);
}
END_TEST

/* ":port" listens on every address, IPv4 and IPv6 alike. */
START_TEST(listen_any_dual_stack)
{
	char addr[64];
	struct dialer d = { .address = addr };
	int l = weft_listen("tcp", ":0", -1);

	ck_assert_int_ge(l, 0);
	d.network = "tcp4";
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", port_of(l));
	talk(l, &d);
	ck_assert_int_eq(d.family, AF_INET);
	d.network = "tcp6";
	snprintf(addr, sizeof(addr), "[::1]:%u", port_of(l));
	talk(l, &d);
	ck_assert_int_eq(d.family, AF_INET6);
	/* ":port" to dial means this host. */
	d.network = "tcp";
	snprintf(addr, sizeof(addr), ":%u", port_of(l));
	talk(l, &d);
	weft_close(l);
}
END_TEST

START_TEST(udp_dial_and_listen)
{
	char addr[64], buf[16];
	struct sockaddr_in from;
	socklen_t fromlen = sizeof(from);
	int l = weft_listen("udp4", "127.0.0.1:0", 0), c;

	ck_assert_int_ge(l, 0);
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", port_of(l));
	c = weft_dial("udp", addr);
	ck_assert_int_ge(c, 0);
	ck_assert_int_eq(weft_send(c, "dgram", 5, 0), 5);
	ck_assert_int_eq(weft_recvfrom(l, buf, sizeof(buf), 0,
	    (struct sockaddr *)&from, &fromlen), 5);
	ck_assert(memcmp(buf, "dgram", 5) == 0);
	ck_assert_uint_eq(ntohs(from.sin_port), port_of(c));
	weft_close(c);
	weft_close(l);
}
END_TEST

START_TEST(unix_paths_and_abstract)
{
	char path[108], abstract[64];
	struct dialer d = { .network = "unix", .address = path };
	int l;

	snprintf(path, sizeof(path), "/tmp/weft-net-%d.sock", (int)getpid());
	unlink(path);
	l = weft_listen("unix", path, 4);
	ck_assert_int_ge(l, 0);
	talk(l, &d);
	/* The path is taken: weft does not remove it. */
	assert_fails(weft_listen("unix", path, 4), EADDRINUSE);
	weft_close(l);
	unlink(path);
	assert_fails(weft_dial("unix", path), ENOENT);

	snprintf(abstract, sizeof(abstract), "@weft-net-%d", (int)getpid());
	l = weft_listen("unix", abstract, 4);
	ck_assert_int_ge(l, 0);
	d.address = abstract;
	talk(l, &d);
	weft_close(l);
}
END_TEST

START_TEST(bad_arguments)
{
	char longpath[200];

	assert_fails(weft_dial(NULL, "127.0.0.1:80"), EINVAL);
	assert_fails(weft_dial("tcp", NULL), EINVAL);
	assert_fails(weft_dial("sctp", "127.0.0.1:80"), EINVAL);
	assert_fails(weft_dial("tcp", "127.0.0.1"), EINVAL);
	assert_fails(weft_dial("tcp", "127.0.0.1:"), EINVAL);
	assert_fails(weft_dial("tcp", "::1:80"), EINVAL);
	assert_fails(weft_dial("tcp", "[::1]80"), EINVAL);
	assert_fails(weft_dial("tcp", "[::1:80"), EINVAL);
	assert_fails(weft_dial("tcp", "localhost:no-such-service-here"), EINVAL);
	assert_fails(weft_dial("unix", ""), EINVAL);
	/* A family that does not fit the address. */
	assert_fails(weft_dial("tcp6", "127.0.0.1:80"), EADDRNOTAVAIL);
	assert_fails(weft_listen("tcp", "127.0.0.1:99999", 1), EINVAL);
	assert_fails(weft_listen(NULL, ":0", 1), EINVAL);
	assert_fails(weft_listen("tcp", "nonsense", 1), EINVAL);
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	assert_fails(weft_dial("unix", longpath), ENAMETOOLONG);
	assert_fails(weft_listen("unix", longpath, 1), ENAMETOOLONG);
}
END_TEST

START_TEST(refused)
{
	char addr[64];
	int l = weft_listen("tcp4", "127.0.0.1:0", 1);
	uint16_t port = port_of(l);
	struct dialer d = { .network = "tcp", .address = addr };

	ck_assert_int_ge(l, 0);
	weft_close(l);                /* nobody listens there now */
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);
	assert_fails(weft_dial("tcp", addr), ECONNREFUSED);
	run_task(dial_and_talk, &d);
	ck_assert_int_eq(d.fd, -1);
	ck_assert_int_eq(d.err, ECONNREFUSED);
}
END_TEST

/* ---- the race (RFC 8305) ------------------------------------------------- */

/*
 * The resolver's first address hangs; the second is of the other family.
 * After the stagger the second is tried, interleaved ahead of a third of
 * the first family that would also connect, and wins; the task beside it
 * kept running all along.
 */
static int g_ticks, g_dialled;

static void *ticker(void *arg)
{
	(void)arg;
	while (!g_dialled) {
		g_ticks++;
		weft_sleep(10);
	}
	return NULL;
}

static void *dial_then_flag(void *arg)
{
	dial_and_talk(arg);
	g_dialled = 1;
	return NULL;
}

START_TEST(race_interleaves_and_staggers)
{
	int fill[8], nfill = 0, hang = hanging_listener(AF_INET, fill, &nfill);
	int ok4 = weft_listen("tcp4", "127.0.0.1:0", 8);
	int ok6 = weft_listen("tcp6", "[::1]:0", 8);
	struct echo e = { .listener = ok6, .accepted = -1, .n = -1 };
	struct dialer d = { .network = "tcp", .address = "race.weft.test:0" };
	weft_task *a, *b, *t;

	if (hang < 0) {
		fprintf(stderr, "race_interleaves_and_staggers: skipped, a full "
		    "listen queue does not hold connections back here\n");
		return;
	}
	ck_assert(ok4 >= 0 && ok6 >= 0);
	fake_clear();
	fake_add_v4(port_of(hang));
	fake_add_v4(port_of(ok4));
	fake_add_v6(port_of(ok6));
	g_ticks = g_dialled = 0;
	a = weft_spawn(echo_once, &e);
	b = weft_spawn(dial_then_flag, &d);
	t = weft_spawn(ticker, NULL);
	ck_assert(a && b && t);
	ck_assert_int_eq(weft_join(b, NULL), 0);
	ck_assert_int_eq(weft_join(a, NULL), 0);
	ck_assert_int_eq(weft_join(t, NULL), 0);
	ck_assert_msg(d.fd >= 0, "dial: %s", strerror(d.err));
	/* IPv6 came second, not third: the families were interleaved. */
	ck_assert_int_eq(d.family, AF_INET6);
	ck_assert_int_eq(d.n, 4);
	/* It waited for the stagger before trying the second. */
	ck_assert_int_ge(d.took, 200 * MS_NS);
	ck_assert_int_lt(d.took, 5000 * MS_NS);
	ck_assert_int_gt(g_ticks, 5);
	weft_close(d.fd);
	close_all(fill, nfill);
	weft_close(hang);
	weft_close(ok4);
	weft_close(ok6);
}
END_TEST

/* A first address that fails at once starts the next at once. */
START_TEST(race_failure_starts_next_at_once)
{
	int dead = weft_listen("tcp4", "127.0.0.1:0", 1);
	uint16_t dead_port = port_of(dead);
	int ok = weft_listen("tcp4", "127.0.0.1:0", 8);
	struct dialer d = { .network = "tcp", .address = "race.weft.test:0" };

	weft_close(dead);
	ck_assert_int_ge(ok, 0);
	fake_clear();
	fake_add_v4(dead_port);
	fake_add_v4(port_of(ok));
	talk(ok, &d);
	/* The stagger is 250 ms: far less means it did not wait for it. */
	ck_assert_int_lt(d.took, 250 * MS_NS);
	/* Every address refused: the first one's error. */
	fake_clear();
	fake_add_v4(dead_port);
	fake_add_v4(dead_port);
	assert_fails(weft_dial("tcp", "race.weft.test:0"), ECONNREFUSED);
	/* A name with no address of the family asked for. */
	assert_fails(weft_dial("tcp6", "race.weft.test:0"), EADDRNOTAVAIL);
	weft_close(ok);
}
END_TEST

/* ---- deadlines and cancellation ------------------------------------------ */

static int g_hang_port;

static void *dial_with_deadline(void *arg)
{
	struct dialer *d = arg;
	char addr[64];
	int64_t saved = weft_deadline_push(weft_now() + 200 * MS_NS);

	snprintf(addr, sizeof(addr), "127.0.0.1:%d", g_hang_port);
	d->address = addr;
	dial_and_talk(d);
	weft_deadline_pop(saved);
	return NULL;
}

static void *dial_forever(void *arg)
{
	struct dialer *d = arg;
	char addr[64];

	snprintf(addr, sizeof(addr), "127.0.0.1:%d", g_hang_port);
	d->address = addr;
	dial_and_talk(d);
	return NULL;
}

START_TEST(deadline_and_cancel)
{
	int fill[8], nfill = 0, hang = hanging_listener(AF_INET, fill, &nfill);
	struct dialer d = { .network = "tcp4" };
	char addr[64];
	weft_task *t;
	int64_t d0, saved;
	long before;

	if (hang < 0) {
		fprintf(stderr, "deadline_and_cancel: skipped, a full listen "
		    "queue does not hold connections back here\n");
		return;
	}
	g_hang_port = port_of(hang);
	run_task(dial_with_deadline, &d);
	ck_assert_int_eq(d.fd, -1);
	ck_assert_int_eq(d.err, ETIMEDOUT);
	ck_assert_int_ge(d.took, 190 * MS_NS);
	/* The runtime has its poller and pool now: count from here. */
	before = open_fds();
	run_task(dial_with_deadline, &d);
	ck_assert_int_eq(d.err, ETIMEDOUT);

	t = weft_spawn(dial_forever, &d);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(weft_sleep(50), 0);
	ck_assert_int_eq(weft_cancel(t), 0);
	ck_assert_int_eq(weft_join(t, NULL), 0);
	ck_assert_int_eq(d.fd, -1);
	ck_assert_int_eq(d.err, ECANCELED);

	/* Outside a task, main's deadline bounds the blocking dial. */
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", g_hang_port);
	d0 = weft_now() + 150 * MS_NS;
	saved = weft_deadline_push(d0);
	assert_fails(weft_dial("tcp", addr), ETIMEDOUT);
	ck_assert_int_ge(weft_now(), d0);
	weft_deadline_pop(saved);
	/* The attempts given up were closed. */
	ck_assert_int_eq(open_fds(), before);
	close_all(fill, nfill);
	weft_close(hang);
}
END_TEST

/* Outside a task the calls block, as socket(2) and connect(2) do. */
START_TEST(outside_a_task)
{
	char addr[64], buf[8];
	int l = weft_listen("tcp", "127.0.0.1:0", 4), c, a;

	ck_assert_int_ge(l, 0);
	snprintf(addr, sizeof(addr), "localhost:%u", port_of(l));
	c = weft_dial("tcp", addr);
	ck_assert_int_ge(c, 0);
	a = weft_accept(l, NULL, NULL);
	ck_assert_int_ge(a, 0);
	ck_assert_int_eq(write(c, "x", 1), 1);
	ck_assert_int_eq(read(a, buf, sizeof(buf)), 1);
	ck_assert(flags_blocking_cloexec(c));
	close(a);
	close(c);
	close(l);
}
END_TEST

static Suite *net_suite(void)
{
	Suite *s = suite_create("net");
	TCase *tc = tcase_create("dial");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, tcp_listen_and_dial);
	tcase_add_test(tc, listen_any_dual_stack);
	tcase_add_test(tc, udp_dial_and_listen);
	tcase_add_test(tc, unix_paths_and_abstract);
	tcase_add_test(tc, bad_arguments);
	tcase_add_test(tc, refused);
	tcase_add_test(tc, race_interleaves_and_staggers);
	tcase_add_test(tc, race_failure_starts_next_at_once);
	tcase_add_test(tc, deadline_and_cancel);
	tcase_add_test(tc, outside_a_task);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(net_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
