/*
 * A line-based chat server: one task per client, all on one thread.
 *
 *   chat_server [port]        (default 7001, every local address)
 *
 * Try it with `nc localhost 7001` in two or more terminals: the first
 * line each client sends is its name, every later line goes to all the
 * others as "name: line".  Stop it with Ctrl-C.
 *
 * It shows weft_listen, weft_fdopen (getline and fprintf that park only
 * their task), a task group that the accept loop reaps as it goes, and
 * weft_sigwait: a task waits for SIGINT or SIGTERM, then cancels the
 * accept loop and the group, and every client task cleans up and returns.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <weft.h>

/* How long a client may take to accept a line before it is dropped. */
#define WRITE_TIMEOUT_NS (5 * 1000000000LL)

/*
 * A client.  Its task alone reads from in; the tasks of the others write
 * to out, one at a time under mu.  Two streams, over the socket and a
 * dup of it, since a stdio stream must not be used by two tasks at once
 * (weft_fdopen(3)): the reader is parked inside getline on in while the
 * others write.
 */
struct client {
	struct client *next;
	FILE *in, *out;
	weft_mutex mu;
	weft_task *task;
	int refs;               /* its task, and each writer parked on it */
	int gone;               /* left or dropped: write no more */
	char name[32];          /* empty until the first line */
};

static struct client *clients;  /* every client whose refs are not 0 */
static weft_group *group;       /* the client tasks */
static weft_task *acceptor;     /* NULL once joined */

/* Drop a reference; the last one unlinks c, closes out and frees c. */
static void put(struct client *c)
{
	struct client **p;

	if (--c->refs > 0)
		return;
	for (p = &clients; *p != c; p = &(*p)->next)
		;
	*p = c->next;
	if (fclose(c->out) == EOF)
		fprintf(stderr, "chat_server: close: %s\n", strerror(errno));
	weft_mutex_destroy(&c->mu);
	free(c);
}

/* Send "name: text" to every other named client.  Writing parks, so the
 * list may change meanwhile: the reference held on c keeps c, and so
 * c->next, in it.  A client that fails or is too slow is dropped. */
static void broadcast(struct client *from, const char *text)
{
	struct client *c, *next;
	int64_t saved;
	int ok, err;

	for (c = clients; c; c = next) {
		next = c->next;
		if (c == from || c->gone || !c->name[0])
			continue;
		c->refs++;
		saved = weft_deadline_push(weft_now() + WRITE_TIMEOUT_NS);
		ok = weft_mutex_lock(&c->mu) == 0;
		if (ok) {
			ok = c->gone || (fprintf(c->out, "%s: %s\n",
			    from->name, text) >= 0 && fflush(c->out) == 0);
			weft_mutex_unlock(&c->mu);
		}
		err = errno;
		weft_deadline_pop(saved);
		if (!ok && err != ECANCELED && !c->gone) {
			fprintf(stderr, "chat_server: dropping %s: %s\n",
			    c->name, strerror(err));
			c->gone = 1;
			weft_cancel(c->task);   /* its getline fails */
		}
		next = c->next;
		put(c);
		if (!ok && err == ECANCELED)
			return;                 /* we are shutting down */
	}
}

static void *client_main(void *arg)
{
	int fd = (int)(intptr_t)arg, wfd = -1;
	struct client *c = calloc(1, sizeof(*c));
	char *line = NULL;
	size_t cap = 0;

	if (!c || (wfd = dup(fd)) == -1 || !(c->in = weft_fdopen(fd, "r")) ||
	    !(c->out = weft_fdopen(wfd, "w"))) {
		fprintf(stderr, "chat_server: client: %s\n", strerror(errno));
		if (c && c->in)
			fclose(c->in);          /* closes fd */
		else
			weft_close(fd);
		if (wfd != -1)
			weft_close(wfd);
		free(c);
		return WEFT_TASK_FAILED;
	}
	c->task = weft_self();
	c->refs = 1;
	c->next = clients;
	clients = c;
	while (getline(&line, &cap, c->in) > 0) {
		line[strcspn(line, "\r\n")] = '\0';
		if (c->name[0])
			broadcast(c, line);
		else
			snprintf(c->name, sizeof(c->name), "%s",
			    line[0] ? line : "anonymous");
	}
	if (ferror(c->in) && errno != ECANCELED && !c->gone)
		fprintf(stderr, "chat_server: %s: %s\n",
		    c->name[0] ? c->name : "client", strerror(errno));
	c->gone = 1;
	free(line);
	fclose(c->in);                  /* closes fd; out still has wfd */
	put(c);
	return NULL;
}

/* Free the stacks of the clients that have left, without waiting: under
 * a deadline already past, weft_group_next takes only finished tasks. */
static void reap_finished(void)
{
	int64_t saved = weft_deadline_push(0);

	while (weft_group_next(group, NULL, NULL) == 0)
		;
	weft_deadline_pop(saved);
}

static void *accept_loop(void *arg)
{
	int lfd = (int)(intptr_t)arg, fd;

	for (;;) {
		if ((fd = weft_accept(lfd, NULL, NULL)) == -1) {
			if (errno == ECANCELED)
				return NULL;            /* shutting down */
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ECONNABORTED || errno == EINTR)
				continue;
			fprintf(stderr, "chat_server: weft_accept: %s\n",
			    strerror(errno));
			return WEFT_TASK_FAILED;
		}
		if (!weft_group_spawn(group, client_main,
		    (void *)(intptr_t)fd)) {
			fprintf(stderr, "chat_server: weft_group_spawn: %s\n",
			    strerror(errno));
			weft_close(fd);
		}
		reap_finished();
	}
}

static void *signal_main(void *arg)
{
	int sig, err = weft_sigwait(arg, &sig);

	if (err == ECANCELED)
		return NULL;                    /* main stops us */
	if (err)
		fprintf(stderr, "chat_server: weft_sigwait: %s\n",
		    strerror(err));
	else
		fprintf(stderr, "chat_server: shutting down\n");
	if (acceptor)
		weft_cancel(acceptor);
	weft_group_cancel(group);
	return err ? WEFT_TASK_FAILED : NULL;
}

int main(int argc, char **argv)
{
	char address[64];
	sigset_t stop;
	weft_task *sigtask;
	void *ra = WEFT_TASK_FAILED, *rs = WEFT_TASK_FAILED;
	int lfd, err;

	/* Before any task or pool thread exists, so that nothing but
	 * weft_sigwait takes these signals. */
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	if ((err = pthread_sigmask(SIG_BLOCK, &stop, NULL)) != 0) {
		fprintf(stderr, "chat_server: pthread_sigmask: %s\n",
		    strerror(err));
		return 1;
	}
	/* A shell starts a background job with SIGINT ignored, and an
	 * ignored signal is discarded, never waited for: asking for it
	 * takes it back (as Go's signal.Notify does). */
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	snprintf(address, sizeof(address), ":%s", argc > 1 ? argv[1] : "7001");
	if ((lfd = weft_listen("tcp", address, 128)) == -1) {
		fprintf(stderr, "chat_server: %s: %s\n", address,
		    strerror(errno));
		return 1;
	}
	if (!(group = weft_group_create(0)) ||
	    !(acceptor = weft_spawn(accept_loop, (void *)(intptr_t)lfd)) ||
	    !(sigtask = weft_spawn(signal_main, &stop)))
		goto fail;
	printf("chat server on port %s\n", address + 1);
	fflush(stdout);
	/* The accept loop ends when cancelled, or on an error: then the
	 * signal task is cancelled instead. */
	if (weft_join(acceptor, &ra) == -1)
		goto fail;
	acceptor = NULL;
	/* Destroying the group cancels the clients still there and waits
	 * for them. */
	if (weft_cancel(sigtask) == -1 || weft_join(sigtask, &rs) == -1 ||
	    weft_group_destroy(group) == -1 || weft_close(lfd) == -1)
		goto fail;
	return ra == NULL && rs == NULL ? 0 : 1;
fail:
	fprintf(stderr, "chat_server: %s\n", strerror(errno));
	return 1;
}
