// The machine's float32 multiply-add peak: each thread runs independent chains of 16-lane
// (AVX-512) or 8-lane (AVX2) FMAs, enough chains to cover the FMA latency, on data in
// registers. Prints GFLOP/s for 1 and N threads. Build: cc -O2 -march=native -pthread.
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define CHAINS 12
static long iterations = 200000000L / CHAINS;

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }

static void *run(void *out) {
#ifdef __AVX512F__
    __m512 acc[CHAINS], a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
    for (int c = 0; c < CHAINS; c++) acc[c] = _mm512_set1_ps((float)c);
    for (long i = 0; i < iterations; i++)
        _Pragma("GCC unroll 12") for (int c = 0; c < CHAINS; c++) acc[c] = _mm512_fmadd_ps(acc[c], a, b);
    float s = 0; for (int c = 0; c < CHAINS; c++) s += _mm512_reduce_add_ps(acc[c]);
#else
    __m256 acc[CHAINS], a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
    for (int c = 0; c < CHAINS; c++) acc[c] = _mm256_set1_ps((float)c);
    for (long i = 0; i < iterations; i++)
        _Pragma("GCC unroll 12") for (int c = 0; c < CHAINS; c++) acc[c] = _mm256_fmadd_ps(acc[c], a, b);
    float s = 0; float t[8];
    for (int c = 0; c < CHAINS; c++) { _mm256_storeu_ps(t, acc[c]); for (int j = 0; j < 8; j++) s += t[j]; }
#endif
    *(float *)out = s;
    return NULL;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 2;
#ifdef __AVX512F__
    const int lanes = 16;
#else
    const int lanes = 8;
#endif
    for (int n = 1; n <= threads; n *= 2) {
        pthread_t tid[64]; float out[64];
        double t0 = now();
        for (int i = 0; i < n; i++) pthread_create(&tid[i], NULL, run, &out[i]);
        for (int i = 0; i < n; i++) pthread_join(tid[i], NULL);
        double dt = now() - t0;
        double flops = 2.0 * lanes * CHAINS * (double)iterations * n;
        printf("{\"threads\":%d,\"lanes\":%d,\"fma_peak_gflops\":%.1f}\n", n, lanes, flops / dt / 1e9);
    }
    return 0;
}
