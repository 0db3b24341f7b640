/*
 * libcurl, loaded at the first weft_fetch (curl_load.c) rather than when
 * the program starts: a program that never fetches does not pay for
 * loading libcurl and the thirty libraries it needs (TLS, Kerberos, LDAP,
 * ...).  The fetch files call libcurl by its own names, which this header
 * turns into calls through the table the loader fills; only after
 * weft__curl_load has succeeded may they be called.
 */
#ifndef WEFT_IO_CURL_H
#define WEFT_IO_CURL_H

#include <curl/curl.h>

struct weft__curl {
	CURLcode (*global_init)(long flags);
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
	CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
	CURLcode (*easy_perform)(CURL *);
	void (*easy_cleanup)(CURL *);
	void (*easy_reset)(CURL *);
	const char *(*easy_strerror)(CURLcode);
	CURLM *(*multi_init)(void);
	CURLMcode (*multi_setopt)(CURLM *, CURLMoption, ...);
	CURLMcode (*multi_add_handle)(CURLM *, CURL *);
	CURLMcode (*multi_remove_handle)(CURLM *, CURL *);
	CURLMcode (*multi_assign)(CURLM *, curl_socket_t, void *);
	CURLMcode (*multi_socket_action)(CURLM *, curl_socket_t, int, int *);
	CURLMsg *(*multi_info_read)(CURLM *, int *);
	CURLMcode (*multi_cleanup)(CURLM *);
	CURLSH *(*share_init)(void);
	CURLSHcode (*share_setopt)(CURLSH *, CURLSHoption, ...);
	CURLSHcode (*share_cleanup)(CURLSH *);
	struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
	void (*slist_free_all)(struct curl_slist *);
};

extern struct weft__curl weft__curl;

/*
 * Load libcurl and run curl_global_init, once per process; any thread.
 * 0, or -1 with errno and *why: ELIBACC when the library cannot be loaded
 * (its soname, libcurl.so.4, is not installed, or lacks a function), ENOMEM
 * when curl_global_init fails.  A failure is not kept: the next call tries
 * again.
 */
int weft__curl_load(const char **why);

/* libcurl's names, through the table (the type-checking macros of
 * <curl/curl.h> go: the table's prototypes check what they can). */
#undef curl_easy_setopt
#undef curl_easy_getinfo
#undef curl_share_setopt
#undef curl_multi_setopt
#define curl_global_init weft__curl.global_init
#define curl_easy_init weft__curl.easy_init
#define curl_easy_setopt weft__curl.easy_setopt
#define curl_easy_getinfo weft__curl.easy_getinfo
#define curl_easy_perform weft__curl.easy_perform
#define curl_easy_cleanup weft__curl.easy_cleanup
#define curl_easy_reset weft__curl.easy_reset
#define curl_easy_strerror weft__curl.easy_strerror
#define curl_multi_init weft__curl.multi_init
#define curl_multi_setopt weft__curl.multi_setopt
#define curl_multi_add_handle weft__curl.multi_add_handle
#define curl_multi_remove_handle weft__curl.multi_remove_handle
#define curl_multi_assign weft__curl.multi_assign
#define curl_multi_socket_action weft__curl.multi_socket_action
#define curl_multi_info_read weft__curl.multi_info_read
#define curl_multi_cleanup weft__curl.multi_cleanup
#define curl_share_init weft__curl.share_init
#define curl_share_setopt weft__curl.share_setopt
#define curl_share_cleanup weft__curl.share_cleanup
#define curl_slist_append weft__curl.slist_append
#define curl_slist_free_all weft__curl.slist_free_all

#endif /* WEFT_IO_CURL_H */
