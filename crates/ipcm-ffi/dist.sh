#!/usr/bin/env bash
# Build the C libraries as they ship, with no debug info:
# target/dist/libipcm_ffi.{a,so} (under $CARGO_TARGET_DIR if set). Extra
# arguments go to cargo (e.g. --features hosted).
#
# The `dist` profile (workspace Cargo.toml) builds without debug info and
# strips the cdylib. The staticlib also carries the standard library's
# objects as rustup ships them, with their debug info and LLVM bitcode
# (.llvmbc, only for cross-language LTO; linkers ignore it): objcopy
# removes both, which is what takes it from ~22 MB to a few.
set -euo pipefail
cd "$(dirname "$0")/../.."

cargo build -p ipcm-ffi --profile dist "$@"
dist=${CARGO_TARGET_DIR:-target}/dist
lib=$dist/libipcm_ffi.a
objcopy --strip-debug --remove-section=.llvmbc --remove-section=.llvmcmd "$lib" "$lib.tmp"
mv "$lib.tmp" "$lib"
ls -l "$lib" "$dist/libipcm_ffi.so"
