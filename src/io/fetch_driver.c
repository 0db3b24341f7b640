/*
 * The fetch driver: one libcurl multi handle per runtime (a runtime part,
 * made by the first fetch in a task), so connections are reused between
 * the fetches of a thread.
 *
 * libcurl tells us which sockets to watch (socket_cb) and when to call it
 * back (timer_cb); we register the sockets with the runtime's poller and
 * keep the timer.  An internal "driver" task then calls
 * curl_multi_socket_action for every socket event and timer expiry, on its
 * own stack, outside any libcurl callback (libcurl refuses calls made from
 * its callbacks).  A fetching task adds its easy handle and parks; the
 * driver wakes it when libcurl says the transfer is done.  A deadline or
 * weft_cancel wakes it early: it then removes its handle itself, which
 * abandons the transfer.
 *
 * The driver is a service task: weft_run does not wait for it, and its
 * park is not an external wait, so deadlock detection still works; the
 * fetching tasks' parks are.
 */
#include "base/compiler.h"
#include "base/error.h"
#include "base/alloc.h"

#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/list.h"
#include "base/queue.h"
#include "base/sys.h"
#include "io/fetch.h"

#define DRIVER_STACK ((size_t)512 * 1024)   /* libcurl and TLS go deep */

/* Idle easy handles kept: as many as fetches in flight, up to this. */
#define SHELF_MAX 64

struct weft__shelf {
	CURL *idle[SHELF_MAX];
	unsigned n;
};

struct fetcher {
	struct weft_rt *rt;
	struct weft__shelf shelf;
	struct weft__poller *poller;
	CURLM *multi;
	CURLSH *share;               /* TLS sessions, for every fetch here */
	struct weft_task *driver;
	int64_t timer_at;            /* libcurl's timeout; INT64_MAX: none */
	struct weft__lifo pending;   /* sockets with events to hand over */
	struct weft__list socks;     /* every socket libcurl asked us to watch */
	struct weft__list transfers; /* in flight */
	struct weft__list origins;   /* struct origin, while in use */
	/* Sockets libcurl opened through open_cb, by number: their close
	 * comes through close_cb, so their registration may outlive a
	 * CURL_POLL_REMOVE (a kept-alive connection between transfers). */
	unsigned char *opened;
	size_t nopened;
};

/*
 * Fetches in flight to one origin where HTTP/2 may multiplex.  libcurl
 * 7.88 gives a transfer that finds the connection's streams all taken a
 * connection of its own, and the next such transfers likewise while that
 * one is set up: 200 concurrent GETs to nginx (128 streams) took up to 35
 * connections.  Past ORIGIN_STREAMS in flight a fetch waits here instead,
 * and takes the stream its predecessor leaves.
 */
#define ORIGIN_STREAMS 100

struct origin {
	struct weft__link link;      /* in f->origins */
	unsigned inflight;
	struct weft__list waiters;   /* struct origin_wait, oldest first */
	char key[128];
};

struct origin_wait {
	struct weft__link link;
	struct weft_task *task;
};

/*
 * A socket libcurl watches: registered level-triggered with the poller.
 * When libcurl stops watching a connection it keeps alive (REMOVE between
 * two transfers), the record stays, idle, registered as it was: the next
 * transfer on the connection usually asks for the same events, and then
 * costs no epoll_ctl.  An event on an idle socket (the server closed it)
 * unregisters it; libcurl's close (close_cb) drops the record.
 */
struct csock {
	struct weft__pollsrc src;
	struct fetcher *f;
	curl_socket_t fd;
	uint32_t events;             /* seen, not yet handed to libcurl */
	uint32_t registered;         /* the events the poller has, or 0 */
	unsigned char queued, removed, idle;
	struct weft__qnode pending;  /* in f->pending */
	struct weft__link link;      /* in f->socks */
};

/* ---- sockets and the timer ---------------------------------------------- */

static void sock_ready(struct weft__pollsrc *src, uint32_t events)
{
	struct csock *s = weft__container_of(src, struct csock, src);
	struct fetcher *f = s->f;

	s->events |= events;
	if (!s->queued) {
		s->queued = 1;
		weft__lifo_push(&f->pending, &s->pending);
	}
	weft__unpark(f->rt, f->driver, 0);
}

/*
 * A socket of e's transfer cannot be watched (no memory for its record,
 * or the poller refused it): end that transfer with err, now.  Telling
 * libcurl -1 instead would leave the whole multi handle in an unknown
 * state and the transfer waiting for nothing.
 */
static int watch_failed(struct fetcher *f, CURL *e, int err)
{
	struct weft__transfer *x = NULL;

	curl_easy_getinfo(e, CURLINFO_PRIVATE, &x);
	if (x && !x->done) {
		x->watch_err = err ? err : ENOMEM;
		x->done = 1;
		weft__unpark(f->rt, x->task, 0);
	}
	return 0;
}

/* ---- sockets libcurl opens and closes ---------------------------------- */

static int opened(const struct fetcher *f, curl_socket_t fd)
{
	return fd >= 0 && (size_t)fd < f->nopened && f->opened[fd];
}

/* Note fd as opened (or not); without memory it is simply not noted,
 * and its registration ends with each REMOVE, as for any socket. */
static void note_opened(struct fetcher *f, curl_socket_t fd, int on)
{
	size_t n = f->nopened ? f->nopened : 64;
	unsigned char *v;

	if (fd < 0)
		return;
	if ((size_t)fd >= f->nopened) {
		if (!on)
			return;
		while (n <= (size_t)fd)
			n *= 2;
		if (!(v = weft__realloc(f->opened, n)))
			return;
		memset(v + f->nopened, 0, n - f->nopened);
		f->opened = v;
		f->nopened = n;
	}
	f->opened[fd] = (unsigned char)on;
}

static curl_socket_t open_cb(void *arg, curlsocktype purpose,
    struct curl_sockaddr *a)
{
	struct fetcher *f = arg;
	int fd = weft__sys_socket(a->family, a->socktype, a->protocol);

	(void)purpose;
	if (fd < 0)
		return CURL_SOCKET_BAD;
	note_opened(f, fd, 1);
	return fd;
}

static void sock_drop(struct fetcher *f, struct csock *s)
{
	weft__list_remove(&f->socks, &s->link);
	if (s->queued)
		s->removed = 1;   /* freed when dequeued */
	else
		free(s);
}

static struct csock *idle_sock(struct fetcher *f, curl_socket_t fd)
{
	struct weft__link *l;

	weft__list_each(l, &f->socks) {
		struct csock *s = weft__container_of(l, struct csock, link);

		if (s->idle && s->fd == fd)
			return s;
	}
	return NULL;
}

/* libcurl closes a socket it opened: its registration goes with it. */
static int close_cb(void *arg, curl_socket_t fd)
{
	struct fetcher *f = arg;
	struct csock *s = idle_sock(f, fd);

	if (s)
		sock_drop(f, s);
	note_opened(f, fd, 0);
	return weft__sys_close(fd);
}

/* Let f see e's sockets opened and closed. */
static void set_sockets(struct fetcher *f, CURL *e)
{
	curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_cb);
	curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, f);
	curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, close_cb);
	curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, f);
}

static int socket_cb(CURL *e, curl_socket_t fd, int what, void *arg,
    void *sockp)
{
	struct fetcher *f = arg;
	struct csock *s = sockp;
	uint32_t ev = 0;

	if (what == CURL_POLL_REMOVE) {
		if (s) {
			curl_multi_assign(f->multi, fd, NULL);
			/* A connection kept alive: stay registered. */
			if (opened(f, fd) && s->registered) {
				s->idle = 1;
				return 0;
			}
			/* The fd may be closed already: the poller
			 * forgives that. */
			weft__poller_del(f->poller, fd);
			sock_drop(f, s);
		}
		return 0;
	}
	if (!s && (s = idle_sock(f, fd))) {
		s->idle = 0;
		curl_multi_assign(f->multi, fd, s);
	}
	if (!s) {
		if (!(s = weft__calloc(1, sizeof(*s))))
			return watch_failed(f, e, errno);
		s->src.ready = sock_ready;
		s->f = f;
		s->fd = fd;
		weft__list_push_front(&f->socks, &s->link);
		curl_multi_assign(f->multi, fd, s);
	}
	if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
		ev |= WEFT__EV_IN;
	if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
		ev |= WEFT__EV_OUT;
	if (s->registered && ev == s->registered)
		return 0;
	if (weft__poller_set(f->poller, fd, ev, &s->src) == -1)
		return watch_failed(f, e, errno);
	s->registered = ev ? ev : WEFT__EV_ERR;
	return 0;
}

static int timer_cb(CURLM *m, long ms, void *arg)
{
	struct fetcher *f = arg;

	(void)m;
	f->timer_at = ms < 0 ? INT64_MAX :
	    weft__add_ns(weft_now(), (int64_t)ms * WEFT__NS_PER_MS);
	/* The driver may be parked on the old time: let it look again. */
	weft__unpark(f->rt, f->driver, 0);
	return 0;
}

static int curl_mask(uint32_t ev)
{
	int mask = 0;

	if (ev & (WEFT__EV_IN | WEFT__EV_HUP | WEFT__EV_RDHUP))
		mask |= CURL_CSELECT_IN;
	if (ev & WEFT__EV_OUT)
		mask |= CURL_CSELECT_OUT;
	if (ev & WEFT__EV_ERR)
		mask |= CURL_CSELECT_ERR;
	return mask;
}

/* Transfers libcurl finished: wake their tasks. */
static void collect(struct fetcher *f)
{
	struct weft__transfer *x;
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(f->multi, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &x);
		/* The message does not survive the removal. */
		x->result = msg->data.result;
		x->done = 1;
		weft__unpark(f->rt, x->task, 0);
	}
}

static void drive(struct fetcher *f)
{
	struct weft__qnode *n;
	struct csock *s;
	uint32_t ev;
	int running;

	while ((n = weft__lifo_pop(&f->pending))) {
		s = weft__container_of(n, struct csock, pending);
		s->queued = 0;
		if (s->removed) {
			free(s);
			continue;
		}
		if (s->idle) {
			/* The server closed a kept-alive connection, or
			 * wrote to it: stop hearing about it (a level-
			 * triggered registration would report it again and
			 * again); libcurl finds out when it reuses it. */
			weft__poller_del(f->poller, s->fd);
			s->registered = 0;
			s->events = 0;
			continue;
		}
		ev = s->events;
		s->events = 0;
		curl_multi_socket_action(f->multi, s->fd, curl_mask(ev),
		    &running);
	}
	if (f->timer_at != INT64_MAX && f->timer_at <= weft_now()) {
		f->timer_at = INT64_MAX;
		curl_multi_socket_action(f->multi, CURL_SOCKET_TIMEOUT, 0,
		    &running);
	}
	collect(f);
}

static void *driver_main(void *arg)
{
	struct fetcher *f = arg;

	for (;;) {
		drive(f);
		weft__park_until(f->rt, f->timer_at, WEFT__PARK_NOINTR);
	}
	return NULL;
}

/* ---- the runtime part -------------------------------------------------- */

static int fetcher_init(void *part, struct weft_rt *rt)
{
	struct fetcher *f = part;
	weft_attr attr;

	f->rt = rt;
	f->timer_at = INT64_MAX;
	if (!(f->poller = weft__loop_poller(rt)))
		return -1;
	if (weft__fault(WEFT__FAULT_CURL) || !(f->multi = curl_multi_init()))
		return weft__fail(ENOMEM);
	/* The multi handle shares connections and DNS answers among its
	 * transfers; TLS sessions need a share of their own.  One thread
	 * uses it, so it needs no lock. */
	if (weft__fault(WEFT__FAULT_CURL) || !(f->share = curl_share_init()) ||
	    curl_share_setopt(f->share, CURLSHOPT_SHARE,
	    CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK) {
		curl_share_cleanup(f->share);
		curl_multi_cleanup(f->multi);
		return weft__fail(ENOMEM);
	}
	/* HTTP/2 streams per connection: no cap of libcurl's below ours
	 * (ORIGIN_STREAMS, below) or the server's own SETTINGS. */
	curl_multi_setopt(f->multi, CURLMOPT_MAX_CONCURRENT_STREAMS, 1000L);
	curl_multi_setopt(f->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
	curl_multi_setopt(f->multi, CURLMOPT_SOCKETDATA, f);
	curl_multi_setopt(f->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(f->multi, CURLMOPT_TIMERDATA, f);
	weft_attr_init(&attr);
	weft_attr_setstacksize(&attr, DRIVER_STACK);
	weft_attr_setguard(&attr, WEFT_GUARD_PAGE);
	weft_attr_setname(&attr, "weft-fetch");
	if (!(f->driver = weft__spawn_service(driver_main, f, &attr))) {
		int err = errno ? errno : ENOMEM;

		curl_share_cleanup(f->share);
		curl_multi_cleanup(f->multi);
		return weft__fail(err);
	}
	return 0;
}

/* Free the multi handle and what is left of its transfers. */
static void fetcher_term(void *part)
{
	struct fetcher *f = part;
	struct weft__link *l, *tmp;
	struct weft__qnode *n;

	/* Tasks still waiting on a transfer will never run again. */
	weft__list_each_safe(l, tmp, &f->transfers) {
		struct weft__transfer *x = weft__container_of(l,
		    struct weft__transfer, link);

		curl_multi_remove_handle(f->multi, x->easy);
		weft__transfer_free(x);
	}
	/* Before the share: the handles still name it. */
	while (f->shelf.n)
		curl_easy_cleanup(f->shelf.idle[--f->shelf.n]);
	curl_multi_cleanup(f->multi);
	curl_share_cleanup(f->share);
	weft__list_each_safe(l, tmp, &f->origins)
		free(weft__container_of(l, struct origin, link));
	weft__list_each_safe(l, tmp, &f->socks)
		free(weft__container_of(l, struct csock, link));
	free(f->opened);
	while ((n = weft__lifo_pop(&f->pending))) {
		struct csock *s = weft__container_of(n, struct csock, pending);

		if (s->removed)
			free(s);
	}
}

static const struct weft__part_type fetcher_type = {
	/* Cleaning up in a child of fork would close the parent's TLS
	 * sessions on their shared sockets: the part is kept, unused. */
	WEFT__PART_FETCH, sizeof(struct fetcher), fetcher_init, fetcher_term,
	NULL
};

/* ---- origins ------------------------------------------------------------ */

static struct origin *origin_find(struct fetcher *f, const char *key)
{
	struct weft__link *l;

	weft__list_each(l, &f->origins) {
		struct origin *o = weft__container_of(l, struct origin, link);

		if (strcmp(o->key, key) == 0)
			return o;
	}
	return NULL;
}

static void origin_release(struct fetcher *f, struct origin *o)
{
	if (o->inflight == 0 && weft__list_empty(&o->waiters)) {
		weft__list_remove(&f->origins, &o->link);
		free(o);
	}
}

/* Take a place among the fetches in flight to key (waiting for one if
 * they are ORIGIN_STREAMS); the origin, or NULL and *err. */
static struct origin *origin_enter(struct fetcher *f, struct weft_task *self,
    const char *key, int *err)
{
	struct origin *o = origin_find(f, key);
	struct origin_wait w;

	if (!o) {
		if (!(o = weft__calloc(1, sizeof(*o)))) {
			*err = ENOMEM;
			return NULL;
		}
		memcpy(o->key, key, sizeof(o->key));
		weft__list_push_back(&f->origins, &o->link);
	}
	w.task = self;
	while (o->inflight >= ORIGIN_STREAMS) {
		weft__list_push_back(&o->waiters, &w.link);
		*err = weft__park(f->rt, 0);
		weft__list_remove(&o->waiters, &w.link);
		if (*err) {
			origin_release(f, o);
			return NULL;
		}
	}
	o->inflight++;
	return o;
}

static void origin_leave(struct fetcher *f, struct origin *o)
{
	o->inflight--;
	if (!weft__list_empty(&o->waiters))
		weft__unpark(f->rt, weft__container_of(o->waiters.first,
		    struct origin_wait, link)->task, 0);
	origin_release(f, o);
}

/* ---- a fetch in a task -------------------------------------------------- */

/* weft_errmsg's words for a wait that ended early with err. */
static const char *wait_words(int err)
{
	return err == ETIMEDOUT ? "deadline passed" :
	    err == ECANCELED ? "cancelled" : NULL;
}

struct weft__shelf *weft__fetch_shelf(struct weft_rt *rt)
{
	struct fetcher *f = weft__rt_part(rt, &fetcher_type);

	return f ? &f->shelf : NULL;
}

CURL *weft__shelf_take(struct weft__shelf *sh)
{
	return sh->n ? sh->idle[--sh->n] : NULL;
}

/* Reset here rather than at the next take: the strings its options
 * copied (URL, body, headers) go now. */
void weft__shelf_give(struct weft__shelf *sh, CURL *e)
{
	if (sh->n == SHELF_MAX) {
		curl_easy_cleanup(e);
		return;
	}
	curl_easy_reset(e);
	sh->idle[sh->n++] = e;
}

/* Inside a task: hand the transfer to the multi handle and park. */
weft_response *weft__fetch_parked(struct weft_rt *rt,
    struct weft__transfer *x)
{
	struct weft_task *self = weft__self(rt);
	struct fetcher *f = weft__rt_part(rt, &fetcher_type);
	struct origin *o = NULL;
	int err;

	if (!f)
		return weft__transfer_finish(self, x, errno,
		    "cannot start the fetch driver");
	if ((err = weft__interrupted(self)))
		return weft__transfer_finish(self, x, err, NULL);
	weft__wait_note(rt, WEFT__WAIT_FETCH, x->url, 0, 0);
	if (x->origin[0] && !(o = origin_enter(f, self, x->origin, &err)))
		return weft__transfer_finish(self, x, err, wait_words(err));
	x->task = self;
	set_sockets(f, x->easy);
	if (curl_easy_setopt(x->easy, CURLOPT_SHARE, f->share) != CURLE_OK ||
	    curl_multi_add_handle(f->multi, x->easy) != CURLM_OK) {
		if (o)
			origin_leave(f, o);
		return weft__transfer_finish(self, x, ENOMEM, NULL);
	}
	weft__list_push_front(&f->transfers, &x->link);
	do
		err = weft__park(rt, WEFT__PARK_EXTERNAL);
	while (!err && !x->done);
	weft__list_remove(&f->transfers, &x->link);
	curl_multi_remove_handle(f->multi, x->easy);
	if (o)
		origin_leave(f, o);
	if (!x->done)
		return weft__transfer_finish(self, x, err, wait_words(err));
	return weft__transfer_finish(self, x, x->watch_err, x->watch_err ?
	    "cannot watch the connection's socket" : NULL);
}
