/*
 * klo-load: the CPU load generator of the KLO experiments (the lab notebook's
 * `overhead`). Usage: klo-load T_sleep_us inner_iter log_iter
 *
 * For 2^log_iter outer iterations it adds rand() inner_iter times, then sleeps
 * T_sleep_us microseconds. It prints the sum at the end so the work cannot be
 * optimised away. klo-spec starts procs_per_core of these per selected core,
 * pinned with taskset, and kills them by PID when the cell ends.
 *
 * Portable C99 + POSIX (nanosleep): builds with cc on Linux hosts, the NDK's
 * clang for Android and any cross gcc.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int parse_u64(const char *s, const char *what, unsigned long long max,
                     unsigned long long *out)
{
    char *end = NULL;
    errno = 0;
    if (s[0] == '-' || s[0] == '\0') {
        fprintf(stderr, "klo-load: %s must be a non-negative integer, got '%s'\n", what, s);
        return -1;
    }
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v > max) {
        fprintf(stderr, "klo-load: %s must be an integer in 0..%llu, got '%s'\n", what, max, s);
        return -1;
    }
    *out = v;
    return 0;
}

static void sleep_us(unsigned long long us)
{
    if (us == 0)
        return;
    struct timespec ts;
    ts.tv_sec = (time_t)(us / 1000000ULL);
    ts.tv_nsec = (long)((us % 1000000ULL) * 1000ULL);
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

int main(int argc, char **argv)
{
    unsigned long long t_sleep_us, inner_iter, log_iter;
    if (argc != 4) {
        fprintf(stderr, "usage: klo-load T_sleep_us inner_iter log_iter\n");
        return 2;
    }
    if (parse_u64(argv[1], "T_sleep_us", 10000000ULL, &t_sleep_us) != 0 ||
        parse_u64(argv[2], "inner_iter", 1000000000ULL, &inner_iter) != 0 ||
        parse_u64(argv[3], "log_iter", 40ULL, &log_iter) != 0)
        return 2;

    srand((unsigned)time(NULL));
    unsigned long long outer = 1ULL << log_iter;
    unsigned long long sum = 0;
    for (unsigned long long i = 0; i < outer; i++) {
        for (unsigned long long j = 0; j < inner_iter; j++)
            sum += (unsigned long long)rand();
        sleep_us(t_sleep_us);
    }
    printf("%llu\n", sum);
    return 0;
}
