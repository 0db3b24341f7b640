/*
 * Loading libcurl at the first fetch: see curl.h.
 */
#include "base/compiler.h"
#include "base/error.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "base/dlsyms.h"
#include "io/curl.h"

struct weft__curl weft__curl;

/* The sonames to try: Debian's OpenSSL flavour, then its GnuTLS one (the
 * same API and ABI). */
static const char *const sonames[] = {
	"libcurl.so.4", "libcurl-gnutls.so.4"
};

/* Each member of the table and the name of its function. */
#define ENTRY(member) WEFT__DLSYM(struct weft__curl, member, "curl_" #member)
static const struct weft__dlsym entries[] = {
	ENTRY(global_init), ENTRY(easy_init), ENTRY(easy_setopt),
	ENTRY(easy_getinfo), ENTRY(easy_perform), ENTRY(easy_cleanup),
	ENTRY(easy_reset),
	ENTRY(easy_strerror), ENTRY(multi_init), ENTRY(multi_setopt),
	ENTRY(multi_add_handle), ENTRY(multi_remove_handle),
	ENTRY(multi_assign), ENTRY(multi_socket_action),
	ENTRY(multi_info_read), ENTRY(multi_cleanup), ENTRY(share_init),
	ENTRY(share_setopt), ENTRY(share_cleanup), ENTRY(slist_append),
	ENTRY(slist_free_all)
};

static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;
static int loaded;                /* read with acquire, set with release */
static char load_error[256];      /* why the last try failed */

/* Open libcurl and fill the table; 0, or -1 with load_error said. */
static int load_locked(void)
{
	struct weft__curl t;
	const char *missing;
	void *lib = NULL;
	size_t i;

	for (i = 0; !lib && i < sizeof(sonames) / sizeof(sonames[0]); i++)
		lib = dlopen(sonames[i], RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		snprintf(load_error, sizeof(load_error), "libcurl could not be "
		    "loaded (Debian: libcurl4): %s", dlerror());
		return -1;
	}
	if ((missing = weft__dlsyms_fill(lib, &t, entries,
	    sizeof(entries) / sizeof(entries[0])))) {
		snprintf(load_error, sizeof(load_error), "libcurl lacks %s",
		    missing);
		dlclose(lib);
		return -1;
	}
	if (t.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(load_error, sizeof(load_error), "curl_global_init "
		    "failed");
		dlclose(lib);
		return -2;
	}
	/* The library stays loaded until the process ends. */
	weft__curl = t;
	return 0;
}

int weft__curl_load(const char **why)
{
	int r;

	if (weft__likely(__atomic_load_n(&loaded, __ATOMIC_ACQUIRE)))
		return 0;
	pthread_mutex_lock(&load_lock);
	r = loaded ? 0 : load_locked();
	if (r == 0)
		__atomic_store_n(&loaded, 1, __ATOMIC_RELEASE);
	else
		*why = load_error;
	pthread_mutex_unlock(&load_lock);
	if (r == 0)
		return 0;
	return weft__fail(r == -2 ? ENOMEM : ELIBACC);
}
