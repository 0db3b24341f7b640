/*
 * weft — stackful green threads for C.
 *
 * The only installed header.  Every name it defines starts with weft_ or
 * WEFT_.  Handles are opaque; attribute storage is a fixed-size union that
 * callers own, so structures can grow without breaking the ABI.
 *
 * Thread-safety: each OS thread that calls weft gets its own runtime,
 * created on first use.  A task handle belongs to the runtime (thread) that
 * spawned it and must only be passed to weft calls made on that thread.
 */
#ifndef WEFT_H
#define WEFT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

struct addrinfo;

#ifdef __cplusplus
extern "C" {
#endif

#define WEFT_VERSION_MAJOR 0
#define WEFT_VERSION_MINOR 1
#define WEFT_VERSION_PATCH 0
#define WEFT_VERSION_STRING "0.1.0"
/* One number that compares: 0x00MMmmpp. */
#define WEFT_VERSION_NUMBER \
	((WEFT_VERSION_MAJOR << 16) | (WEFT_VERSION_MINOR << 8) | WEFT_VERSION_PATCH)

#if defined(__GNUC__)
#define WEFT_API __attribute__((visibility("default")))
#else
#define WEFT_API
#endif

/* Version of the library actually loaded (compare with the macros above). */
WEFT_API unsigned weft_version(void);
WEFT_API const char *weft_version_string(void);

/* ---- tasks -------------------------------------------------------------- */

typedef struct weft_task weft_task;

/* Longest task name, including the terminating NUL. */
#define WEFT_NAME_MAX 32
/* Stack sizes: the built-in default and the smallest accepted. */
#define WEFT_STACK_DEFAULT ((size_t)128 * 1024)
#define WEFT_STACK_MIN ((size_t)16 * 1024)

/* How a task's stack is protected against overflow. */
enum weft_guard {
	WEFT_GUARD_AUTO = 0,   /* a guard page while it costs no kernel mapping
	                          (Linux 6.13+) or the mapping budget allows,
	                          then a canary; for a task: the runtime's policy */
	WEFT_GUARD_PAGE = 1,   /* always a guard page */
	WEFT_GUARD_CANARY = 2  /* no guard page; canary checked at each switch-out */
};

/* Spawn attributes.  Caller-owned storage; initialise with weft_attr_init. */
typedef union weft_attr {
	unsigned char opaque[64];
	long long align_;
	void *align_ptr_;
} weft_attr;

WEFT_API int weft_attr_init(weft_attr *attr);
WEFT_API int weft_attr_setstacksize(weft_attr *attr, size_t size);
WEFT_API int weft_attr_getstacksize(const weft_attr *attr, size_t *size);
WEFT_API int weft_attr_setguard(weft_attr *attr, int guard);
WEFT_API int weft_attr_getguard(const weft_attr *attr, int *guard);
WEFT_API int weft_attr_setdetached(weft_attr *attr, int detached);
WEFT_API int weft_attr_getdetached(const weft_attr *attr, int *detached);
WEFT_API int weft_attr_setname(weft_attr *attr, const char *name);
/* A local task starts and stays on the spawner's worker (weft_set_workers). */
WEFT_API int weft_attr_setlocal(weft_attr *attr, int local);
WEFT_API int weft_attr_getlocal(const weft_attr *attr, int *local);

WEFT_API weft_task *weft_spawn(void *(*fn)(void *), void *arg);
WEFT_API weft_task *weft_spawn_attr(void *(*fn)(void *), void *arg,
    const weft_attr *attr);
WEFT_API int weft_join(weft_task *task, void **result);
WEFT_API int weft_detach(weft_task *task);
WEFT_API int weft_yield(void);
WEFT_API weft_task *weft_self(void);
WEFT_API uint64_t weft_task_id(const weft_task *task);
WEFT_API const char *weft_task_name(const weft_task *task);
WEFT_API int weft_task_setname(weft_task *task, const char *name);

/* Run the calling thread's runtime until no task is left. */
WEFT_API int weft_run(void);

/*
 * Every core: the calling thread's runtime becomes worker 0 of n (n-1 new
 * threads; 0: $WEFT_WORKERS, else one per online CPU).  A task that has not
 * started may start on any worker; a started task never changes thread.
 */
WEFT_API int weft_set_workers(unsigned n);
/* The caller's worker, 0 ... n-1; 0 without workers. */
WEFT_API int weft_worker(void);

/* ---- time --------------------------------------------------------------- */

/* Monotonic clock, nanoseconds. */
WEFT_API int64_t weft_now(void);
WEFT_API int weft_sleep(int64_t ms);
WEFT_API int weft_sleep_ns(int64_t ns);
WEFT_API int weft_sleep_until(int64_t deadline_ns);

/* ---- deadlines and cancellation ---------------------------------------- */

/*
 * A task-scoped deadline (absolute, weft_now() nanoseconds) bounds every
 * call that parks: past it they fail with ETIMEDOUT.  Scopes nest: push
 * returns what to pass to pop, and an inner deadline never extends an
 * outer one.  WEFT_NO_DEADLINE means none.
 */
#define WEFT_NO_DEADLINE INT64_MAX
WEFT_API int64_t weft_deadline_push(int64_t deadline_ns);
WEFT_API int weft_deadline_pop(int64_t saved);
WEFT_API int64_t weft_deadline(void);

/* Make the task's current and later parking calls fail with ECANCELED. */
WEFT_API int weft_cancel(weft_task *task);

/* ---- I/O: POSIX signatures, parking only the calling task --------------- */

WEFT_API ssize_t weft_read(int fd, void *buf, size_t count);
WEFT_API ssize_t weft_write(int fd, const void *buf, size_t count);
WEFT_API ssize_t weft_recv(int fd, void *buf, size_t len, int flags);
WEFT_API ssize_t weft_send(int fd, const void *buf, size_t len, int flags);
WEFT_API ssize_t weft_readv(int fd, const struct iovec *iov, int iovcnt);
WEFT_API ssize_t weft_writev(int fd, const struct iovec *iov, int iovcnt);
WEFT_API ssize_t weft_recvfrom(int fd, void *buf, size_t len, int flags,
    struct sockaddr *src, socklen_t *srclen);
WEFT_API ssize_t weft_sendto(int fd, const void *buf, size_t len, int flags,
    const struct sockaddr *dst, socklen_t dstlen);
WEFT_API ssize_t weft_recvmsg(int fd, struct msghdr *msg, int flags);
WEFT_API ssize_t weft_sendmsg(int fd, const struct msghdr *msg, int flags);

/* A stdio stream over fd whose reads and writes park the calling task;
 * fclose closes fd. */
WEFT_API FILE *weft_fdopen(int fd, const char *mode);

/* Child processes and signals: waitpid(2) and sigwait(3) that park only
 * the calling task (sigwait's convention: 0 or an error number). */
WEFT_API pid_t weft_waitpid(pid_t pid, int *wstatus, int options);
WEFT_API int weft_sigwait(const sigset_t *set, int *sig);

/* A connected socket to address on network ("tcp", "tcp4", "tcp6", "udp",
 * "udp4", "udp6", "unix", "unixgram", "unixpacket"): "host:port",
 * "[v6addr]:port", or a path; the addresses of a name race as RFC 8305
 * describes.  weft_listen: a bound socket, listening unless a datagram
 * one; ":port" means every local address, port 0 picks a free one. */
WEFT_API int weft_dial(const char *network, const char *address);
WEFT_API int weft_listen(const char *network, const char *address,
    int backlog);
WEFT_API int weft_accept(int fd, struct sockaddr *addr, socklen_t *addrlen);
WEFT_API int weft_connect(int fd, const struct sockaddr *addr,
    socklen_t addrlen);
WEFT_API int weft_close(int fd);
WEFT_API int weft_poll(struct pollfd *fds, nfds_t nfds, int timeout);

/* ---- offload: calls that can only block, run on a thread pool ----------- */

/* Run fn(arg) on a pool thread; park until it returns; *result gets its value. */
WEFT_API int weft_blocking(void *(*fn)(void *), void *arg, void **result);
/* Most pool threads of the calling thread's runtime (default 4). */
WEFT_API int weft_set_pool_size(unsigned threads);
WEFT_API int weft_getaddrinfo(const char *node, const char *service,
    const struct addrinfo *hints, struct addrinfo **res);

/* ---- fetch: HTTP over libcurl, parking only the calling task ----------- */

typedef struct weft_response weft_response;

/*
 * Options of one fetch.  Initialise with weft_fetch_opts_init, which sets
 * size: fields added in later versions go at the end, and the library reads
 * only the fields that the caller's size covers.
 */
typedef struct weft_fetch_opts {
	size_t size;                    /* sizeof(weft_fetch_opts) of the caller */
	const char *method;             /* NULL: GET, or POST when body is set */
	const char *const *headers;     /* NULL-terminated "Name: value" lines */
	const void *body;               /* request body, body_len bytes */
	size_t body_len;
	int64_t timeout_ms;             /* whole exchange; 0: none */
	int64_t connect_timeout_ms;     /* connect phase; 0: libcurl's 300 s */
	int follow_redirects;           /* 0: return the 3xx response */
	int max_redirects;              /* with follow_redirects; default 10 */
	size_t max_body;                /* 0: no limit; past it: EMSGSIZE */
	const char *user_agent;         /* NULL: "weft/<version>" */
	/* Stream the body here instead of keeping it: return len to go on,
	 * anything else to stop (the fetch then fails with ECANCELED). */
	size_t (*on_body)(const void *data, size_t len, void *arg);
	void *on_body_arg;
	/* Since weft 0.2. */
	const char *ca_file;            /* PEM bundle trusted instead of the system's */
	int insecure;                   /* 1: no certificate or host check (tests only) */
	int compressed;                 /* 1: ask for every encoding, decode the body */
	const char *client_cert;        /* PEM certificate for mutual TLS */
	const char *client_key;         /* its PEM private key */
	const char *proxy;              /* NULL: the usual environment; "": none */
	const char *userpwd;            /* "user:password" for basic auth */
	int http_version;               /* WEFT_HTTP_ANY, WEFT_HTTP_1_1, WEFT_HTTP_2 */
} weft_fetch_opts;

/* weft_fetch_opts http_version: ANY is HTTP/2 over TLS when the server
 * offers it, else HTTP/1.1; 2 is HTTP/2 also over cleartext (prior
 * knowledge). */
#define WEFT_HTTP_ANY 0
#define WEFT_HTTP_1_1 1
#define WEFT_HTTP_2 2

/* Zero size bytes of opts and record size; use weft_fetch_opts_init. */
WEFT_API int weft_fetch_opts_init_sized(weft_fetch_opts *opts, size_t size);
/* Inline, so that the size recorded is the caller's sizeof. */
static inline int weft_fetch_opts_init(weft_fetch_opts *opts)
{
	return weft_fetch_opts_init_sized(opts, sizeof(*opts));
}
WEFT_API weft_response *weft_fetch(const char *url, const weft_fetch_opts *opts);
WEFT_API long weft_response_status(const weft_response *res);
WEFT_API const void *weft_response_body(const weft_response *res, size_t *len);
WEFT_API const char *weft_response_header(const weft_response *res,
    const char *name);
WEFT_API size_t weft_response_header_count(const weft_response *res);
WEFT_API int weft_response_header_at(const weft_response *res, size_t i,
    const char **name, const char **value);
WEFT_API const char *weft_response_url(const weft_response *res);
/* 10, 11, 20 or 30: the HTTP version of the response; -1 for NULL. */
WEFT_API int weft_response_http_version(const weft_response *res);
WEFT_API void weft_response_free(weft_response *res);

/* Detail of the calling task's last failed weft_fetch (libcurl's words). */
WEFT_API const char *weft_errmsg(void);

/* ---- sharing state: mutex, condition, semaphore, wait group ------------
 *
 * Each parks only the calling task, wakes waiters in FIFO order, honours the
 * task's deadline (ETIMEDOUT) and cancellation (ECANCELED), and works between
 * tasks of different OS threads.  Storage is the caller's; an all-zero
 * object (the _INITIALIZER macros) is ready to use, or call the _init
 * function.  A destroy must not race with any other use.
 */
typedef union weft_mutex { unsigned char opaque_[40]; void *align_; } weft_mutex;
typedef union weft_cond { unsigned char opaque_[24]; void *align_; } weft_cond;
typedef union weft_sem { unsigned char opaque_[32]; void *align_; } weft_sem;
typedef union weft_rwlock { unsigned char opaque_[48]; void *align_; } weft_rwlock;
typedef union weft_waitgroup { unsigned char opaque_[32]; void *align_; } weft_waitgroup;
#define WEFT_MUTEX_INITIALIZER { { 0 } }
#define WEFT_COND_INITIALIZER { { 0 } }
#define WEFT_WAITGROUP_INITIALIZER { { 0 } }

WEFT_API int weft_mutex_init(weft_mutex *m);
WEFT_API int weft_mutex_destroy(weft_mutex *m);
WEFT_API int weft_mutex_lock(weft_mutex *m);
WEFT_API int weft_mutex_trylock(weft_mutex *m);
WEFT_API int weft_mutex_unlock(weft_mutex *m);

WEFT_API int weft_cond_init(weft_cond *c);
WEFT_API int weft_cond_destroy(weft_cond *c);
WEFT_API int weft_cond_wait(weft_cond *c, weft_mutex *m);
WEFT_API int weft_cond_signal(weft_cond *c);
WEFT_API int weft_cond_broadcast(weft_cond *c);

WEFT_API int weft_sem_init(weft_sem *s, unsigned value);
WEFT_API int weft_sem_destroy(weft_sem *s);
WEFT_API int weft_sem_wait(weft_sem *s);
WEFT_API int weft_sem_trywait(weft_sem *s);
WEFT_API int weft_sem_post(weft_sem *s);
WEFT_API int weft_sem_getvalue(weft_sem *s, int *value);

/* Readers share, writers exclude; FIFO, so no writer starves. */
#define WEFT_RWLOCK_INITIALIZER { { 0 } }
WEFT_API int weft_rwlock_init(weft_rwlock *l);
WEFT_API int weft_rwlock_destroy(weft_rwlock *l);
WEFT_API int weft_rwlock_rdlock(weft_rwlock *l);
WEFT_API int weft_rwlock_wrlock(weft_rwlock *l);
WEFT_API int weft_rwlock_tryrdlock(weft_rwlock *l);
WEFT_API int weft_rwlock_trywrlock(weft_rwlock *l);
WEFT_API int weft_rwlock_unlock(weft_rwlock *l);

WEFT_API int weft_waitgroup_init(weft_waitgroup *wg);
WEFT_API int weft_waitgroup_add(weft_waitgroup *wg, int delta);
WEFT_API int weft_waitgroup_done(weft_waitgroup *wg);
WEFT_API int weft_waitgroup_wait(weft_waitgroup *wg);

/* ---- channels and select ------------------------------------------------ */

typedef struct weft_chan weft_chan;

WEFT_API weft_chan *weft_chan_create(size_t elem_size, size_t capacity);
WEFT_API int weft_chan_send(weft_chan *ch, const void *elem);
WEFT_API int weft_chan_recv(weft_chan *ch, void *elem);
WEFT_API int weft_chan_trysend(weft_chan *ch, const void *elem);
WEFT_API int weft_chan_tryrecv(weft_chan *ch, void *elem);
WEFT_API int weft_chan_close(weft_chan *ch);
WEFT_API void weft_chan_destroy(weft_chan *ch);
/* Elements buffered now, and the capacity (0 for NULL, with EINVAL). */
WEFT_API size_t weft_chan_len(weft_chan *ch);
WEFT_API size_t weft_chan_cap(weft_chan *ch);

enum weft_select_op {
	WEFT_SELECT_SEND = 1,   /* chan, elem: send *elem */
	WEFT_SELECT_RECV,       /* chan, elem: receive into elem */
	WEFT_SELECT_READ,       /* fd: readable */
	WEFT_SELECT_WRITE,      /* fd: writable */
	WEFT_SELECT_JOIN        /* task: finished; joined, result stored */
};

struct weft_select_case {
	int op;                 /* enum weft_select_op */
	weft_chan *chan;
	void *elem;
	int fd;
	weft_task *task;
	void *result;           /* out: WEFT_SELECT_JOIN's return value */
	int err;                /* out: EPIPE when the channel was closed */
};

/* Wait for the first case that can proceed; returns its index. */
WEFT_API int weft_select(struct weft_select_case *cases, size_t ncases,
    int timeout_ms);

/* ---- task groups -------------------------------------------------------- */

typedef struct weft_group weft_group;

/* A task of a group that returns this has failed. */
#define WEFT_TASK_FAILED ((void *)-1)
/* weft_group_create flag: the first failure cancels the other tasks. */
#define WEFT_GROUP_FAIL_FAST 1

WEFT_API weft_group *weft_group_create(int flags);
WEFT_API weft_task *weft_group_spawn(weft_group *g, void *(*fn)(void *),
    void *arg);
WEFT_API int weft_group_next(weft_group *g, uint64_t *id, void **result);
WEFT_API int weft_group_wait(weft_group *g);
WEFT_API int weft_group_cancel(weft_group *g);
WEFT_API int weft_group_destroy(weft_group *g);

/* ---- runtime settings and statistics (calling thread's runtime) --------- */

WEFT_API int weft_set_stack_size(size_t size);
WEFT_API int weft_set_guard(int guard);

struct weft_stats {
	uint64_t tasks_live;      /* spawned, not yet joined or reaped */
	uint64_t tasks_spawned;   /* since the runtime was created */
	uint64_t switches;        /* context switches since creation */
	uint64_t stacks_guarded;  /* stacks with a guard page, in use or cached */
	uint64_t stacks_canary;   /* arena stacks, in use or cached */
	uint64_t stacks_cached;   /* ready for reuse */
	uint64_t arenas;          /* arena mappings */
	uint64_t arenas_resting;  /* of which no stack is in use: unmapped
	                             after a second of rest */
	uint64_t guard_budget;    /* guarded stacks the process may still map */
	uint64_t poller_changes;  /* descriptors registered with (or changed
	                             in, or removed from) the thread's epoll
	                             set: not one per wait */
	uint64_t reserved_[6];
};
WEFT_API int weft_stats(struct weft_stats *st);

/*
 * A report of every task of every thread to fd: its state, what it waits
 * for and how long, where it was spawned, its stack, and a backtrace.  See
 * weft_dump(3) for the environment that asks for it on a signal
 * (WEFT_DUMP_SIGNAL), on a task that holds its thread (WEFT_WATCHDOG_MS)
 * and on a deadlock.
 */
WEFT_API int weft_dump(int fd);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_H */
