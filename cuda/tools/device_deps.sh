#!/usr/bin/env bash
# device_deps.sh — fill .dev/ (git-ignored) with Debian's Check, for a GPU machine that has neither Check nor a
# network. Run it here, carry .dev to the GPU machine, and put .dev/bin first on PATH there:
#     bash cuda/tools/device_deps.sh                (here, where `make test` has installed check)
#     PATH=$PWD/.dev/bin:$PATH bash cuda/tools/gpu_verify.sh OUTDIR                 (there)
# .dev/bin/pkg-config answers only for check, with the headers and static libraries copied into .dev.
set -euo pipefail
cd "$(dirname "$0")/../.."
inc=$(pkg-config --variable=includedir check 2>/dev/null) || { echo "device_deps.sh: no Check here; run make test first" >&2; exit 2; }
lib=$(pkg-config --variable=libdir check)
mkdir -p .dev/include .dev/lib .dev/bin
cp "$inc/check.h" "$inc/check_stdint.h" .dev/include/
cp "$lib/libcheck_pic.a" .dev/lib/
cp "$(pkg-config --variable=libdir libsubunit)/libsubunit.a" .dev/lib/
cat > .dev/bin/pkg-config <<'SHIM'
#!/bin/sh
# written by cuda/tools/device_deps.sh: Check from .dev, for a GPU machine without Debian's check
D=$(cd "$(dirname "$0")/.." && pwd)
case "$*" in
  *--exists*check*) exit 0 ;;
  *--cflags*check*) echo "-I$D/include -pthread" ;;
  *--libs*check*) echo "-L$D/lib -lcheck_pic -lsubunit -lrt -lm" ;;
  *) exit 1 ;;
esac
SHIM
chmod +x .dev/bin/pkg-config
echo "device_deps.sh: .dev holds Check $(pkg-config --modversion check) ($(du -sh .dev | cut -f1)); carry .dev"
