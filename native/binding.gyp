{
  # Built with `node-gyp rebuild --directory native` (package.json script `build:native`).
  # N-API only (no nan, no node-addon-api), so the one binary loads in any thread and any Node >= 20.
  'targets': [
    {
      'target_name': 'packet_socket_helper',
      'sources': ['packet-socket-helper.c'],
      'defines': ['NAPI_VERSION=8'],
      'cflags': ['-Wall', '-Wextra', '-O2'],
      'link_settings': { 'libraries': ['-lpcap', '-ldl'] },
    },
  ],
}
