/* The Swift modules of a release build on x86-64 target AVX2 + FMA (Package.swift: -target-cpu
 * haswell, i.e. x86-64-v3: Intel since Haswell 2013, every AMD Zen). On an older CPU their first
 * vector instruction would end the process with SIGILL and no word, on every rank. This runs
 * before main (and before MPI) and says what is missing instead. Compiled for the baseline CPU. */
#if defined(__x86_64__) && defined(LPFT_TARGET_AVX2)
#include <stdio.h>
#include <unistd.h>

__attribute__((constructor)) static void lpft_require_target_cpu(void) {
    __builtin_cpu_init();
    int avx2 = __builtin_cpu_supports("avx2"), fma = __builtin_cpu_supports("fma");
    if (avx2 && fma) return;
    fprintf(stderr,
            "lpft-mpi: this build needs a CPU with AVX2 and FMA (x86-64-v3: Intel Haswell / AMD Zen "
            "or newer) and this CPU lacks %s; rebuild for it with "
            "LPFT_TARGET_CPU=x86-64 swift build -c release (slower elementwise loops, same results)\n",
            !avx2 && !fma ? "both" : (!avx2 ? "AVX2" : "FMA"));
    _exit(1);
}
#endif
