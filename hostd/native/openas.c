/*
 * openAs(path, uid, gid, groups): resolves and opens a host path for
 * reading with another user's rights, so the kernel itself says whether
 * that user could (every directory searchable, the file readable, ACLs and
 * LSMs included) and hostd keeps the very file that was checked.
 *
 * Linux keeps credentials per thread. A thread of our own takes the user's
 * supplementary groups and filesystem uid/gid and drops every capability
 * (raw syscalls: glibc's setgroups would change every thread of hostd, and
 * a root thread with CAP_DAC_READ_SEARCH or CAP_SYS_PTRACE left would still
 * open what the user cannot). It then resolves the path (symlinks, "..")
 * and opens the result with O_NOFOLLOW, only if it is a regular file or a
 * block device: opening a FIFO, a socket or a character device can block
 * or have effects. The thread ends; the descriptor stays hostd's.
 *
 * Returns { path, mode, fd } (fd -1 when the kind was not opened) or
 * { errno, syscall } when a step failed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <node_api.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

struct job {
  char path[PATH_MAX];
  uid_t uid;
  gid_t gid;
  gid_t *groups;
  size_t ngroups;
  char resolved[PATH_MAX];
  mode_t mode;
  int fd;
  int err;
  const char *syscall;
};

static void *failed(struct job *j, const char *what) {
  j->err = errno;
  j->syscall = what;
  return NULL;
}

static void *run(void *arg) {
  struct job *j = arg;
  if (syscall(SYS_setgroups, j->ngroups, j->groups) != 0) return failed(j, "setgroups");
  syscall(SYS_setfsgid, j->gid);
  /* setfsgid/setfsuid report the previous id, never an error: ask again with an invalid id to read it back. */
  if ((gid_t)syscall(SYS_setfsgid, (gid_t)-1) != j->gid) {
    errno = EPERM;
    return failed(j, "setfsgid");
  }
  syscall(SYS_setfsuid, j->uid);
  if ((uid_t)syscall(SYS_setfsuid, (uid_t)-1) != j->uid) {
    errno = EPERM;
    return failed(j, "setfsuid");
  }
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct none[_LINUX_CAPABILITY_U32S_3];
  memset(none, 0, sizeof none);
  if (syscall(SYS_capset, &hdr, none) != 0) return failed(j, "capset");

  if (realpath(j->path, j->resolved) == NULL) return failed(j, "realpath");
  struct stat before, after;
  if (lstat(j->resolved, &before) != 0) return failed(j, "lstat");
  j->mode = before.st_mode;
  if (!S_ISREG(before.st_mode) && !S_ISBLK(before.st_mode)) return NULL;
  int fd = open(j->resolved, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) return failed(j, "open");
  if (fstat(fd, &after) != 0) {
    close(fd);
    return failed(j, "fstat");
  }
  if (after.st_dev != before.st_dev || after.st_ino != before.st_ino) {
    /* Replaced between the look and the open: the caller may retry. */
    close(fd);
    errno = ESTALE;
    return failed(j, "open");
  }
  j->fd = fd;
  return NULL;
}

static napi_value OpenAs(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct job *j = calloc(1, sizeof *j);
  if (j == NULL) {
    napi_throw_error(env, NULL, "openAs: out of memory");
    return NULL;
  }
  j->fd = -1;
  size_t len = 0;
  uint32_t uid, gid, n = 0;
  bool isArray = false;
  if (argc < 4 || napi_get_value_string_utf8(env, argv[0], j->path, sizeof j->path, &len) != napi_ok || len >= sizeof j->path - 1 ||
      napi_get_value_uint32(env, argv[1], &uid) != napi_ok || napi_get_value_uint32(env, argv[2], &gid) != napi_ok ||
      napi_is_array(env, argv[3], &isArray) != napi_ok || !isArray || napi_get_array_length(env, argv[3], &n) != napi_ok || n > 65536) {
    free(j);
    napi_throw_type_error(env, NULL, "openAs(path, uid, gid, groups): a path, two ids and an array of at most 65536 gids");
    return NULL;
  }
  j->uid = uid;
  j->gid = gid;
  j->ngroups = n;
  j->groups = calloc(n > 0 ? n : 1, sizeof(gid_t));
  for (uint32_t i = 0; j->groups != NULL && i < n; i++) {
    napi_value v;
    uint32_t g = 0;
    napi_get_element(env, argv[3], i, &v);
    if (napi_get_value_uint32(env, v, &g) != napi_ok) {
      free(j->groups);
      free(j);
      napi_throw_type_error(env, NULL, "openAs: groups must be gids");
      return NULL;
    }
    j->groups[i] = g;
  }
  pthread_t t;
  int rc = j->groups == NULL ? ENOMEM : pthread_create(&t, NULL, run, j);
  if (rc != 0) {
    free(j->groups);
    free(j);
    napi_throw_error(env, NULL, "openAs: could not start its thread");
    return NULL;
  }
  pthread_join(t, NULL);

  napi_value out, v;
  napi_create_object(env, &out);
  if (j->syscall != NULL) {
    napi_create_int32(env, j->err, &v);
    napi_set_named_property(env, out, "errno", v);
    napi_create_string_utf8(env, j->syscall, NAPI_AUTO_LENGTH, &v);
    napi_set_named_property(env, out, "syscall", v);
  } else {
    napi_create_string_utf8(env, j->resolved, NAPI_AUTO_LENGTH, &v);
    napi_set_named_property(env, out, "path", v);
    napi_create_uint32(env, j->mode, &v);
    napi_set_named_property(env, out, "mode", v);
    napi_create_int32(env, j->fd, &v);
    napi_set_named_property(env, out, "fd", v);
  }
  free(j->groups);
  free(j);
  return out;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "openAs", NAPI_AUTO_LENGTH, OpenAs, NULL, &fn);
  napi_set_named_property(env, exports, "openAs", fn);
  return exports;
}
