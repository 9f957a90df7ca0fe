/* A plain epoll echo client: the reference the load generator's
 * closed-loop cost is compared with (bench-loadgen.sh; a benchmark aid,
 * not part of the build or the tests).
 *
 * N connections, one request of SIZE bytes in flight on each (depth 1),
 * one thread: send, wait for the whole echo, compare it with memcmp, send
 * the next. Counts the round trips completed in the measured window and
 * prints one line: "c-echo-client rps=<rate> requests=<n> mismatches=<m>
 * cpu_us_per_request=<its own user+system CPU in the window / requests>".
 *
 * usage: echo_client HOST PORT CONNS SIZE DURATION_S WARMUP_S
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct conn {
    int fd;
    size_t got;
    unsigned seq;
};

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static double cpu_us(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}

static void payload(unsigned char *p, size_t n, int conn, unsigned seq) {
    for (size_t i = 0; i < n; i++) p[i] = (unsigned char)(i * 131 + conn * 7 + seq);
}

static int send_one(struct conn *c, int idx, unsigned char *buf, size_t size) {
    payload(buf, size, idx, c->seq);
    size_t off = 0;
    while (off < size) {
        ssize_t w = write(c->fd, buf + off, size - off);
        if (w < 0) {
            if (errno == EAGAIN || errno == EINTR) continue;
            return -1;
        }
        off += (size_t)w;
    }
    c->got = 0;
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 7) {
        fprintf(stderr, "usage: %s HOST PORT CONNS SIZE DURATION_S WARMUP_S\n", argv[0]);
        return 2;
    }
    const char *host = argv[1];
    int port = atoi(argv[2]), n = atoi(argv[3]);
    size_t size = (size_t)atol(argv[4]);
    double duration = atof(argv[5]), warmup = atof(argv[6]);
    if (n < 1 || size < 1 || size > (1 << 20) || duration <= 0 || warmup < 0) {
        fprintf(stderr, "echo_client: bad arguments\n");
        return 2;
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        fprintf(stderr, "echo_client: bad host %s\n", host);
        return 2;
    }
    int ep = epoll_create1(0);
    struct conn *cs = calloc((size_t)n, sizeof *cs);
    unsigned char *out = malloc(size), *expect = malloc(size), *in = malloc(65536);
    for (int i = 0; i < n; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
            perror("echo_client: connect");
            return 1;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        cs[i].fd = fd;
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (unsigned)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
    for (int i = 0; i < n; i++) send_one(&cs[i], i, out, size);
    double start = now_s(), w0 = start + warmup, w1 = w0 + duration;
    unsigned long counted = 0, mismatches = 0;
    double cpu0 = -1, cpu1 = 0;
    struct epoll_event evs[256];
    for (;;) {
        double t = now_s();
        if (cpu0 < 0 && t >= w0) cpu0 = cpu_us();
        if (t >= w1) break;
        int k = epoll_wait(ep, evs, 256, 100);
        for (int e = 0; e < k; e++) {
            int i = (int)evs[e].data.u32;
            struct conn *c = &cs[i];
            ssize_t r = read(c->fd, in, size - c->got);
            if (r <= 0) {
                if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
                fprintf(stderr, "echo_client: connection %d lost\n", i);
                return 1;
            }
            payload(expect, size, i, c->seq);
            if (memcmp(in, expect + c->got, (size_t)r) != 0) mismatches++;
            c->got += (size_t)r;
            if (c->got == size) {
                double d = now_s();
                if (d >= w0 && d < w1) counted++;
                c->seq++;
                if (send_one(c, i, out, size) != 0) return 1;
            }
        }
    }
    cpu1 = cpu_us();
    printf("c-echo-client rps=%.1f requests=%lu mismatches=%lu cpu_us_per_request=%.3f\n",
           counted / duration, counted, mismatches, counted ? (cpu1 - cpu0) / counted : 0.0);
    return mismatches ? 1 : 0;
}
