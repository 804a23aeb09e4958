/*
 * What the `cap` addon does not expose about the AF_PACKET socket it captures on.
 *
 * `cap` 0.2.1 never calls pcap_stats() and always turns promiscuous mode on, but its socket is an
 * ordinary fd of this process: JavaScript finds that fd (/proc/self/fd + /proc/net/packet) and this
 * helper asks the kernel about it directly. It also compiles BPF filters against a dead pcap handle so
 * that a bad filter is rejected before `cap` activates a capture it could not then release.
 *
 * Every function takes and returns plain values; none keeps state. N-API only, so the one binary loads
 * in any thread and any Node version >= 20.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <node_api.h>
#include <pcap/pcap.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef SOL_PACKET
#define SOL_PACKET 263
#endif

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char message[256];
  snprintf(message, sizeof message, "%s: %s", what, strerror(err));
  napi_throw_error(env, "ERR_PACKET_SOCKET", message);
  return NULL;
}

static int get_int_arg(napi_env env, napi_callback_info info, size_t index, int32_t *out) {
  size_t argc = 4;
  napi_value argv[4];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc <= index) return 0;
  return napi_get_value_int32(env, argv[index], out) == napi_ok;
}

/*
 * readPacketStatistics(fd) -> [packets, drops]
 * PACKET_STATISTICS returns the counts since the previous call and resets them (the kernel's
 * semantics): the caller accumulates. tp_packets already includes tp_drops.
 */
static napi_value read_packet_statistics(napi_env env, napi_callback_info info) {
  int32_t fd;
  if (!get_int_arg(env, info, 0, &fd)) {
    napi_throw_type_error(env, NULL, "readPacketStatistics(fd): fd must be an integer");
    return NULL;
  }
  /* Large enough for TPACKET_V3's struct; the kernel writes the V1/V2 struct when that is in use. */
  struct tpacket_stats_v3 stats;
  memset(&stats, 0, sizeof stats);
  socklen_t length = sizeof stats;
  if (getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &stats, &length) != 0) {
    return throw_errno(env, "getsockopt(PACKET_STATISTICS)", errno);
  }
  napi_value result, packets, drops;
  napi_create_array_with_length(env, 2, &result);
  napi_create_uint32(env, stats.tp_packets, &packets);
  napi_create_uint32(env, stats.tp_drops, &drops);
  napi_set_element(env, result, 0, packets);
  napi_set_element(env, result, 1, drops);
  return result;
}

/*
 * dropPromiscuousMembership(fd, ifindex)
 * Undoes libpcap's PACKET_ADD_MEMBERSHIP(PACKET_MR_PROMISC) on that socket. The kernel keeps a
 * per-interface promiscuity count, so other sockets that asked for promiscuous mode keep it.
 */
static napi_value drop_promiscuous_membership(napi_env env, napi_callback_info info) {
  int32_t fd, ifindex;
  if (!get_int_arg(env, info, 0, &fd) || !get_int_arg(env, info, 1, &ifindex)) {
    napi_throw_type_error(env, NULL, "dropPromiscuousMembership(fd, ifindex): integers expected");
    return NULL;
  }
  struct packet_mreq request;
  memset(&request, 0, sizeof request);
  request.mr_ifindex = ifindex;
  request.mr_type = PACKET_MR_PROMISC;
  if (setsockopt(fd, SOL_PACKET, PACKET_DROP_MEMBERSHIP, &request, sizeof request) != 0) {
    return throw_errno(env, "setsockopt(PACKET_DROP_MEMBERSHIP, PACKET_MR_PROMISC)", errno);
  }
  return NULL;
}

/*
 * checkFilter(linkType, snaplen, filterText) -> null when libpcap compiles it, else libpcap's message.
 */
/*
 * A malloc'ed, NUL-terminated copy of the string `value` (the caller frees it), or NULL after throwing
 * a TypeError naming `what` (not a string) or an Error (out of memory).
 */
static char *copy_string_arg(napi_env env, napi_value value, const char *what) {
  size_t length = 0;
  if (napi_get_value_string_utf8(env, value, NULL, 0, &length) != napi_ok) {
    char message[128];
    snprintf(message, sizeof message, "%s must be a string", what);
    napi_throw_type_error(env, NULL, message);
    return NULL;
  }
  char *text = malloc(length + 1);
  if (text == NULL) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  napi_get_value_string_utf8(env, value, text, length + 1, &length);
  return text;
}

static napi_value check_filter(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  int32_t link_type, snaplen;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 3 || napi_get_value_int32(env, argv[0], &link_type) != napi_ok ||
      napi_get_value_int32(env, argv[1], &snaplen) != napi_ok) {
    napi_throw_type_error(env, NULL, "checkFilter(linkType, snaplen, filterText): bad arguments");
    return NULL;
  }
  char *filter_text = copy_string_arg(env, argv[2], "checkFilter: filterText");
  if (filter_text == NULL) return NULL;
  pcap_t *dead = pcap_open_dead(link_type, snaplen);
  if (dead == NULL) {
    free(filter_text);
    napi_throw_error(env, NULL, "pcap_open_dead failed");
    return NULL;
  }
  struct bpf_program program;
  napi_value result;
  /* Netmask 0, not PCAP_NETMASK_UNKNOWN: `cap` passes a known (if misused) value, so "ip broadcast"
   * compiles there and must compile here. */
  if (pcap_compile(dead, &program, filter_text, 1, 0) != 0) {
    napi_create_string_utf8(env, pcap_geterr(dead), NAPI_AUTO_LENGTH, &result);
  } else {
    pcap_freecode(&program);
    napi_get_null(env, &result);
  }
  pcap_close(dead);
  free(filter_text);
  return result;
}

/*
 * silenceStderr() -> savedFd; restoreStderr(savedFd)
 * `cap` prints "Warning: <iface>: no IPv4 address assigned - This may not actually work" with
 * fprintf(stderr) on every open of an interface without IPv4 address; the capture works all the same.
 * The caller brackets cap.open() with these two calls (synchronously, so no JavaScript output is lost).
 */
static napi_value silence_stderr(napi_env env, napi_callback_info info) {
  (void)info;
  fflush(stderr);
  int saved = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
  if (saved < 0) return throw_errno(env, "dup(2)", errno);
  int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (devnull < 0 || dup2(devnull, STDERR_FILENO) < 0) {
    int err = errno;
    if (devnull >= 0) close(devnull);
    close(saved);
    return throw_errno(env, "redirecting fd 2 to /dev/null", err);
  }
  close(devnull);
  napi_value result;
  napi_create_int32(env, saved, &result);
  return result;
}

static napi_value restore_stderr(napi_env env, napi_callback_info info) {
  int32_t saved;
  if (!get_int_arg(env, info, 0, &saved) || saved < 0) {
    napi_throw_type_error(env, NULL, "restoreStderr(savedFd): savedFd must be a non-negative integer");
    return NULL;
  }
  fflush(stderr);
  int failed = dup2(saved, STDERR_FILENO) < 0;
  int err = errno;
  close(saved);
  if (failed) return throw_errno(env, "restoring fd 2", err);
  return NULL;
}

/*
 * packetSocketVersion(fd) -> 0, 1 or 2 (TPACKET_V1, V2, V3): which ring layout libpcap set up.
 */
static napi_value packet_socket_version(napi_env env, napi_callback_info info) {
  int32_t fd;
  if (!get_int_arg(env, info, 0, &fd)) {
    napi_throw_type_error(env, NULL, "packetSocketVersion(fd): fd must be an integer");
    return NULL;
  }
  int version = 0;
  socklen_t length = sizeof version;
  if (getsockopt(fd, SOL_PACKET, PACKET_VERSION, &version, &length) != 0) {
    return throw_errno(env, "getsockopt(PACKET_VERSION)", errno);
  }
  napi_value result;
  napi_create_int32(env, version, &result);
  return result;
}

/*
 * setCapImmediateMode(capAddonPath, enabled) -> boolean
 *
 * `cap` 0.2.1 looks pcap_set_immediate_mode up once, when it loads, into its exported global
 * `set_immediate_mode`, and calls it in every open() when it is not NULL. Immediate mode makes libpcap
 * use a TPACKET_V2 ring: one fixed slot per packet, 64 KiB each on an interface with offloads on, so a
 * 128 MiB ring holds ~1,000 packets, and one wake-up per packet. With that global NULL, libpcap sets up
 * TPACKET_V3 (blocks packed with packets of their real size, handed over a block at a time), as tcpdump
 * gets; nothing else in cap changes. Affects the cap.open() calls that follow, process-wide.
 * `enabled` puts back the value found the first time. The addon must be loaded already (RTLD_NOLOAD):
 * false when it is not, or when it has no such global (another version of cap).
 */
static void *cap_immediate_mode_function = NULL;

static napi_value set_cap_immediate_mode(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  bool enabled = false;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 ||
      napi_get_value_bool(env, argv[1], &enabled) != napi_ok) {
    napi_throw_type_error(env, NULL, "setCapImmediateMode(capAddonPath, enabled): a path and a boolean");
    return NULL;
  }
  char *path = copy_string_arg(env, argv[0], "setCapImmediateMode: capAddonPath");
  if (path == NULL) return NULL;
  int done = 0;
  void *addon = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
  free(path);
  if (addon != NULL) {
    void **set_immediate_mode = (void **)dlsym(addon, "set_immediate_mode");
    if (set_immediate_mode != NULL) {
      if (*set_immediate_mode != NULL) cap_immediate_mode_function = *set_immediate_mode;
      *set_immediate_mode = enabled ? cap_immediate_mode_function : NULL;
      done = !enabled || cap_immediate_mode_function != NULL;
    }
    dlclose(addon); /* Only drops the reference RTLD_NOLOAD took. */
  }
  napi_value result;
  napi_get_boolean(env, done, &result);
  return result;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "readPacketStatistics", NAPI_AUTO_LENGTH, read_packet_statistics, NULL,
                       &fn);
  napi_set_named_property(env, exports, "readPacketStatistics", fn);
  napi_create_function(env, "dropPromiscuousMembership", NAPI_AUTO_LENGTH,
                       drop_promiscuous_membership, NULL, &fn);
  napi_set_named_property(env, exports, "dropPromiscuousMembership", fn);
  napi_create_function(env, "checkFilter", NAPI_AUTO_LENGTH, check_filter, NULL, &fn);
  napi_set_named_property(env, exports, "checkFilter", fn);
  napi_create_function(env, "silenceStderr", NAPI_AUTO_LENGTH, silence_stderr, NULL, &fn);
  napi_set_named_property(env, exports, "silenceStderr", fn);
  napi_create_function(env, "restoreStderr", NAPI_AUTO_LENGTH, restore_stderr, NULL, &fn);
  napi_set_named_property(env, exports, "restoreStderr", fn);
  napi_create_function(env, "packetSocketVersion", NAPI_AUTO_LENGTH, packet_socket_version, NULL, &fn);
  napi_set_named_property(env, exports, "packetSocketVersion", fn);
  napi_create_function(env, "setCapImmediateMode", NAPI_AUTO_LENGTH, set_cap_immediate_mode, NULL,
                       &fn);
  napi_set_named_property(env, exports, "setCapImmediateMode", fn);
  return exports;
}
