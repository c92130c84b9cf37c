/*
 * mallocTrim(): hands the heap memory glibc keeps but no longer uses back to
 * the kernel (malloc_trim(0)). A burst of connections leaves hundreds of
 * MiB of freed read buffers inside glibc's heap; on its own glibc returns
 * only the free space at the top of the heap, so without this hostd's RSS
 * stays at the burst's peak for good. Node has no binding for it.
 */
#include <node_api.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

static napi_value MallocTrim(napi_env env, napi_callback_info info) {
  (void)info;
  int released = 0;
#ifdef __GLIBC__
  released = malloc_trim(0);
#endif
  napi_value v;
  napi_get_boolean(env, released != 0, &v);
  return v;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "mallocTrim", NAPI_AUTO_LENGTH, MallocTrim, NULL, &fn);
  napi_set_named_property(env, exports, "mallocTrim", fn);
  return exports;
}
