{
  "targets": [
    {
      "target_name": "kcarve_native",
      "sources": [
        "src/addon.cc",
        "src/compile_program.cc",
        "src/errors.cc",
        "src/image.cc",
        "src/matcher.cc",
        "src/prefilter_avx2.cc",
        "src/program.cc",
        "src/program_handle.cc",
        "src/read_scan.cc",
        "src/sigbus_guard.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-O3", "-fexceptions", "-Wall", "-Wextra"]
    }
  ]
}
