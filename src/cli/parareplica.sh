#!/bin/sh
# parareplica launcher (`npm start`, the package's `parareplica` bin): runs dist/src/cli/main.js with
# jemalloc as the process's malloc when the system has it, in place (exec: same PID, so SIGTERM,
# SIGINT and SIGKILL reach the replica itself, and its exit code is the launcher's).
#
# Why: with glibc malloc the replica's RSS grows with the size of a snapshot load. The JS heaps stay
# flat; what grows is free memory glibc keeps in its per-thread arenas (LevelDB and Node buffers freed
# on the applier threads). Measured on a 1M-key / 621 MiB snapshot: glibc ends the load at 916 MiB
# RSS and was still climbing linearly; jemalloc holds 380-520 MiB throughout (README, "Memory").
#
#   PARAREPLICA_ALLOCATOR=auto      (default) jemalloc when found, else the system allocator
#   PARAREPLICA_ALLOCATOR=jemalloc  jemalloc or refuse to start (exit 2)
#   PARAREPLICA_ALLOCATOR=system    the system allocator
#   PARAREPLICA_JEMALLOC=/path/libjemalloc.so.2  a jemalloc the search below would not find
# INFO memory's mem_allocator field says which one a running replica uses.
self=$(readlink -f -- "$0" 2>/dev/null || printf '%s' "$0")
root=$(dirname -- "$(dirname -- "$(dirname -- "$self")")")
main="$root/dist/src/cli/main.js"
mode=${PARAREPLICA_ALLOCATOR:-auto}

find_jemalloc() {
  for lib in "${PARAREPLICA_JEMALLOC:-}" \
    "/usr/lib/$(uname -m)-linux-gnu/libjemalloc.so.2" /usr/lib64/libjemalloc.so.2 \
    /usr/lib/libjemalloc.so.2 /usr/local/lib/libjemalloc.so.2; do
    if [ -n "$lib" ] && [ -r "$lib" ]; then printf '%s' "$lib"; return 0; fi
  done
  lib=$(ldconfig -p 2>/dev/null | sed -n 's/.*libjemalloc\.so\.2 .*=> \(.*\)$/\1/p' | head -n 1)
  if [ -n "$lib" ] && [ -r "$lib" ]; then printf '%s' "$lib"; return 0; fi
  return 1
}

case "$mode" in
  system) ;;
  auto|jemalloc)
    if lib=$(find_jemalloc); then
      LD_PRELOAD="$lib${LD_PRELOAD:+:$LD_PRELOAD}"
      export LD_PRELOAD
    elif [ "$mode" = jemalloc ]; then
      echo "parareplica: PARAREPLICA_ALLOCATOR=jemalloc but no libjemalloc.so.2 was found; install it (Debian: apt-get install libjemalloc2) or set PARAREPLICA_JEMALLOC=/path/to/libjemalloc.so.2" >&2
      exit 2
    fi ;;
  *)
    echo "parareplica: PARAREPLICA_ALLOCATOR must be auto, jemalloc or system (got '$mode')" >&2
    exit 2 ;;
esac
exec node "$main" "$@"
