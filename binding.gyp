{
  "targets": [
    {
      "target_name": "xdpwg",
      "sources": [
        "native/addon.cc",
        "native/xsk_port.cc",
        "native/umem_share.cc",
        "native/xsk_member_socket.cc",
        "native/xdp_filter.cc",
        "native/libxdp_diag.cc",
        "native/run_dir.cc",
        "native/udp_port.cc",
        "native/udp_gso.cc",
        "native/udp_gro.cc",
        "native/udp_sticky_source.cc",
        "native/udp_addr_record.cc",
        "native/tun.cc",
        "native/tun_queue.cc",
        "native/tun_offload.cc",
        "native/tun_steering.cc",
        "native/tun_writer_marks.cc",
        "native/bpf_object_path.cc",
        "native/netlink.cc",
        "native/waiter.cc",
        "native/aead_burst.cc",
        "native/aead_crew.cc",
        "native/data_transport.cc",
        "native/blake2s.cc",
        "native/affinity.cc",
        "native/thread_roles.cc",
        "native/capabilities.cc",
        "native/sd_notify.cc",
        "native/x25519.cc",
        "native/noise_ikpsk2.cc",
        "native/handshake_crew.cc",
        "native/fd_passing.cc",
        "native/thread_cpu.cc",
        "native/idle_memory.cc",
        "native/plugin_program.cc",
        "native/link_gro.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_CPP_EXCEPTIONS", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"],
      "libraries": ["-lxdp", "-lbpf", "-lelf", "-lz", "-lcrypto", "-lsodium"],
      "conditions": [
        ["'<!(echo $XDPWG_ASAN)'=='1'", {
          "cflags_cc": ["-fsanitize=address", "-fno-omit-frame-pointer", "-g", "-O1"],
          "ldflags": ["-fsanitize=address"]
        }]
      ]
    }
  ]
}
