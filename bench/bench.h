/*
 * Helpers shared by the weft benchmarks: a monotonic clock, the raw
 * swapcontext ping-pong used as the baseline in the ns figures, and a
 * reader for /proc/self/status.  Defined in bench.c, which every bench
 * program links.
 *
 * Benchmarks are never part of the test suite; each prints ns/op or
 * bytes/task beside a baseline measured in the same run.
 */
#ifndef WEFT_BENCH_H
#define WEFT_BENCH_H

#include <stdint.h>

/* Repetitions of each measurement; the minimum is reported (the machine
 * is shared and noisy, so the best run is the one least disturbed). */
#define BENCH_REPS 5

/* Stack size for the hand-made ucontext baselines. */
#define BENCH_UC_STACK (64 * 1024)

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t bench_now(void);

double bench_min(double a, double b);

/* ns per swapcontext call: the thread's own context and one makecontext
 * context swap with each other, `switches` swapcontext calls in all (a
 * round trip is two).  Best of `reps` runs. */
double bench_swapcontext_ns(long switches, int reps);

/* A "Key:   123 kB" value of /proc/self/status in bytes; -1 if missing. */
long long bench_status_bytes(const char *key);

/* perror(what) and exit(1); the same with errno set to err first. */
void bench_die(const char *what) __attribute__((noreturn));
void bench_die_err(const char *what, int err) __attribute__((noreturn));

/* A positive count parsed from an argument, or exit with a message. */
long bench_arg_count(const char *prog, const char *s);

#endif /* WEFT_BENCH_H */
