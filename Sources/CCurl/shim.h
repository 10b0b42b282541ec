#ifndef DSRD_CCURL_SHIM_H
#define DSRD_CCURL_SHIM_H
#include <curl/curl.h>

/* curl_easy_setopt and curl_easy_getinfo are variadic, which Swift cannot call.
   These typed wrappers pass each kind of argument with the type libcurl expects. */

typedef size_t (*dsrd_curl_data_callback)(char *buffer, size_t size, size_t count, void *userdata);

static inline CURLcode dsrd_curl_set_long(CURL *handle, CURLoption option, long value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode dsrd_curl_set_string(CURL *handle, CURLoption option, const char *value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode dsrd_curl_set_pointer(CURL *handle, CURLoption option, void *value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode dsrd_curl_set_slist(CURL *handle, CURLoption option, struct curl_slist *value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode dsrd_curl_set_off_t(CURL *handle, CURLoption option, curl_off_t value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode dsrd_curl_set_callback(CURL *handle, CURLoption option, dsrd_curl_data_callback callback) {
    return curl_easy_setopt(handle, option, callback);
}
static inline CURLcode dsrd_curl_get_long(CURL *handle, CURLINFO info, long *value) {
    return curl_easy_getinfo(handle, info, value);
}
#endif
