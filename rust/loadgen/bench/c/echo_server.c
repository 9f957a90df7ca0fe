/* A minimal single-threaded epoll echo server: the opponent of the
 * closed-loop client comparison in bench-loadgen.sh (a benchmark aid, not
 * part of the build or the tests). Fast enough that the client, not the
 * server, sets the rate. Prints "LISTENING 127.0.0.1:<port>".
 *
 * usage: echo_server [PORT]   (0 or nothing: an ephemeral port)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 0;
    int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(l, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(l, 4096) != 0) {
        perror("echo_server");
        return 1;
    }
    socklen_t len = sizeof sa;
    getsockname(l, (struct sockaddr *)&sa, &len);
    printf("LISTENING 127.0.0.1:%d\n", ntohs(sa.sin_port));
    fflush(stdout);
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = l};
    epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev);
    static char buf[16384];
    struct epoll_event evs[256];
    for (;;) {
        int k = epoll_wait(ep, evs, 256, -1);
        for (int e = 0; e < k; e++) {
            int fd = evs[e].data.fd;
            if (fd == l) {
                int c;
                while ((c = accept4(l, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct epoll_event cev = {.events = EPOLLIN, .data.fd = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
                }
                continue;
            }
            ssize_t r = read(fd, buf, sizeof buf);
            if (r <= 0) {
                if (r < 0 && errno == EAGAIN) continue;
                close(fd);
                continue;
            }
            ssize_t off = 0;
            while (off < r) {
                ssize_t w = write(fd, buf + off, (size_t)(r - off));
                if (w < 0) {
                    if (errno == EAGAIN || errno == EINTR) continue;
                    break;
                }
                off += w;
            }
        }
    }
}
