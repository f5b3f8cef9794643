# node-gyp build of the audio addon (run by `npm install`). The source list is native/sources.json, shared
# with CMakeLists.txt; keep the flags below identical to the ones there.
{
  "targets": [
    {
      "target_name": "meetcore_audio",
      "sources": [
        "<!@(node -p \"const s=require('./native/sources.json'); [...s.dsp, ...s.core, ...s.addon].join(' ')\")"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions", "-O2"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-O2"],
      "cflags": ["-O3", "-fvisibility=hidden", "-Wall", "-Wextra"],
      "cflags_cc": ["-std=c++17", "-O3", "-fexceptions", "-fvisibility=hidden", "-Wall", "-Wextra"],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "OTHER_CPLUSPLUSFLAGS": ["-O3", "-fvisibility=hidden"]
      }
    }
  ]
}
