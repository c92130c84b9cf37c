/*
 * peerCred(fd): the credentials of the process at the other end of a
 * connected unix socket, from the kernel (SO_PEERCRED, SO_PEERGROUPS).
 * Node has no getsockopt, and no maintained npm package offers this, so
 * hostd carries these few lines of N-API (built by scripts/build-native.sh).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <node_api.h>
#include <stdio.h>
#include <string.h>
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

static napi_value PeerCred(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok) {
    napi_throw_type_error(env, NULL, "peerCred(fd): fd must be an integer");
    return NULL;
  }
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

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "peerCred", NAPI_AUTO_LENGTH, PeerCred, NULL, &fn);
  napi_set_named_property(env, exports, "peerCred", fn);
  return exports;
}
