/*
 * hostd's small native module (built by scripts/build-native.sh). Node has
 * neither getsockopt nor flock, and no maintained npm package offers them, so
 * hostd carries these few lines of N-API:
 * - peerCred(fd): the credentials of the process at the other end of a
 *   connected unix socket, from the kernel (SO_PEERCRED, SO_PEERGROUPS);
 * - tryFlock(fd): flock(fd, LOCK_EX | LOCK_NB), the lock that keeps one
 *   hostd per state directory and marks live uid-range claims
 *   (hostd/flock.ts). The kernel drops it when the holder's last descriptor
 *   closes, so a SIGKILLed hostd never leaves it behind.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <node_api.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59
#endif

static napi_value fail(napi_env env, const char *what) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(errno));
  napi_throw_error(env, NULL, msg);
  return NULL;
}

/* The one argument, a file descriptor; false (with a TypeError thrown) when it is not an integer. */
static int fd_arg(napi_env env, napi_callback_info info, const char *usage, int32_t *fd) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || napi_get_value_int32(env, argv[0], fd) != napi_ok) {
    napi_throw_type_error(env, NULL, usage);
    return 0;
  }
  return 1;
}

static napi_value PeerCred(napi_env env, napi_callback_info info) {
  int32_t fd;
  if (!fd_arg(env, info, "peerCred(fd): fd must be an integer", &fd)) return NULL;
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return fail(env, "SO_PEERCRED");
  gid_t groups[256];
  socklen_t glen = sizeof groups;
  int ngroups = 0;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &glen) == 0) ngroups = (int)(glen / sizeof(gid_t));
  else if (errno != ENOPROTOOPT && errno != ERANGE) return fail(env, "SO_PEERGROUPS");

  napi_value obj, v, arr;
  napi_create_object(env, &obj);
  napi_create_int32(env, cred.pid, &v);
  napi_set_named_property(env, obj, "pid", v);
  napi_create_uint32(env, cred.uid, &v);
  napi_set_named_property(env, obj, "uid", v);
  napi_create_uint32(env, cred.gid, &v);
  napi_set_named_property(env, obj, "gid", v);
  napi_create_array_with_length(env, (size_t)ngroups, &arr);
  for (int i = 0; i < ngroups; i++) {
    napi_create_uint32(env, groups[i], &v);
    napi_set_element(env, arr, (uint32_t)i, v);
  }
  napi_set_named_property(env, obj, "groups", arr);
  return obj;
}

/* true: this descriptor now holds the exclusive lock; false: another open file holds it. */
static napi_value TryFlock(napi_env env, napi_callback_info info) {
  int32_t fd;
  if (!fd_arg(env, info, "tryFlock(fd): fd must be an integer", &fd)) return NULL;
  int r;
  do r = flock(fd, LOCK_EX | LOCK_NB);
  while (r != 0 && errno == EINTR);
  if (r != 0 && errno != EWOULDBLOCK) return fail(env, "flock");
  napi_value out;
  napi_get_boolean(env, r == 0, &out);
  return out;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "peerCred", NAPI_AUTO_LENGTH, PeerCred, NULL, &fn);
  napi_set_named_property(env, exports, "peerCred", fn);
  napi_create_function(env, "tryFlock", NAPI_AUTO_LENGTH, TryFlock, NULL, &fn);
  napi_set_named_property(env, exports, "tryFlock", fn);
  return exports;
}
