/*
 * A packet generator that costs the machine little (bench/crypto-crew.ts):
 * everything it sends was prepared before the clock starts, and it sends in
 * batches of 64 with one sendmmsg, paced by absolute-time sleeps (no busy
 * wait), so nearly all of a core is left to the device under test.
 *
 *   replay-gen replay FILE DST_IP DST_PORT SRC_PORT RATE_PPS
 *       sends every record of FILE ((u32 length LE, message) records: the
 *       transport messages bench/crew-gen.ts sealed in advance) once, in order
 *   replay-gen udp DST_IP DST_PORT SIZE RATE_PPS COUNT
 *       sends COUNT UDP datagrams of SIZE payload bytes (inner traffic into a TUN)
 *   replay-gen sink PORT
 *       binds PORT and never reads: the kernel drops what overflows, silently
 *
 * RATE_PPS 0 sends flat out. Prints {"start":true} on stdout when everything is
 * prepared and the clock starts (a caller samples CPU use from there), then
 * {"sent":N,"seconds":S,"cpu":C} at the end (C: CPU seconds this process
 * used while sending).
 * Build: cc -O2 -o replay-gen replay-gen.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void sleep_until(double when) {
  struct timespec t;
  t.tv_sec = (time_t)when;
  t.tv_nsec = (long)((when - (double)t.tv_sec) * 1e9);
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL) == EINTR) {
  }
}

static int udp_socket(int src_port) {
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  if (s < 0) { perror("socket"); exit(1); }
  int big = 8 << 20;
  setsockopt(s, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
  if (src_port > 0) {
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)src_port)};
    if (bind(s, (struct sockaddr*)&a, sizeof a) < 0) { perror("bind"); exit(1); }
  }
  return s;
}

/*
 * Sends n messages (iov[i]) to dst at rate pps (0: flat out), the first one
 * due at start + before / pps (a caller sending runs from several sockets
 * paces them as one stream); returns how many the kernel took.
 */
static long send_paced(int s, struct sockaddr_in* dst, struct iovec* iov, long n, double pps, double start, long before) {
  struct mmsghdr msgs[BATCH];
  long sent = 0;
  while (sent < n) {
    if (pps > 0) sleep_until(start + (double)(before + sent) / pps);
    int k = (int)(n - sent < BATCH ? n - sent : BATCH);
    for (int i = 0; i < k; i++) {
      memset(&msgs[i], 0, sizeof msgs[i]);
      msgs[i].msg_hdr.msg_name = dst;
      msgs[i].msg_hdr.msg_namelen = sizeof *dst;
      msgs[i].msg_hdr.msg_iov = &iov[sent + i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    int r = sendmmsg(s, msgs, (unsigned)k, 0);
    if (r < 0) {
      if (errno == ENOBUFS || errno == EAGAIN) continue; /* the device queue is full: try again */
      perror("sendmmsg");
      break;
    }
    sent += r;
  }
  return sent;
}

static long send_all(int s, struct sockaddr_in* dst, struct iovec* iov, long n, double pps) {
  return send_paced(s, dst, iov, n, pps, now_s(), 0);
}

static double cpu_s(void) {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return (double)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + (double)(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6;
}

static double cpu_at_start;

static void say_start(void) {
  printf("{\"start\":true}\n");
  fflush(stdout);
  cpu_at_start = cpu_s();
}

static void say_end(long sent, double seconds) {
  printf("{\"sent\":%ld,\"seconds\":%.6f,\"cpu\":%.6f}\n", sent, seconds, cpu_s() - cpu_at_start);
}

/* The file mapped whole, or exit. */
static uint8_t* map_file(const char* name, off_t* size) {
  int fd = open(name, O_RDONLY);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) < 0) { perror(name); exit(1); }
  uint8_t* data = st.st_size == 0 ? NULL : mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
  if (data == MAP_FAILED) { perror("mmap"); exit(1); }
  *size = st.st_size;
  return data;
}

int main(int argc, char** argv) {
  prctl(PR_SET_TIMERSLACK, 1UL); /* pace to the microsecond, not the default 50 µs slack */
  if (argc >= 3 && strcmp(argv[1], "sink") == 0) {
    udp_socket(atoi(argv[2]));
    for (;;) pause();
  }
  struct sockaddr_in dst = {.sin_family = AF_INET};
  if (argc >= 7 && strcmp(argv[1], "replay") == 0) {
    off_t size;
    uint8_t* data = map_file(argv[2], &size);
    long n = 0;
    for (off_t at = 0; at + 4 <= size; n++) at += 4 + *(uint32_t*)(data + at);
    struct iovec* iov = calloc((size_t)n + 1, sizeof *iov);
    off_t at = 0;
    for (long i = 0; i < n; i++) {
      uint32_t len = *(uint32_t*)(data + at);
      iov[i].iov_base = data + at + 4;
      iov[i].iov_len = len;
      at += 4 + len;
    }
    inet_pton(AF_INET, argv[3], &dst.sin_addr);
    dst.sin_port = htons((uint16_t)atoi(argv[4]));
    int s = udp_socket(atoi(argv[5]));
    say_start();
    double t0 = now_s();
    long sent = send_all(s, &dst, iov, n, atof(argv[6]));
    say_end(sent, now_s() - t0);
    return 0;
  }
  if (argc >= 8 && strcmp(argv[1], "replay-socks") == 0) {
    off_t size;
    uint8_t* data = map_file(argv[2], &size);
    int nsock = atoi(argv[6]);
    if (nsock < 1 || nsock > 1024) { fprintf(stderr, "replay-socks: NSOCKETS 1..1024\n"); return 2; }
    long n = 0;
    for (off_t at = 0; at + 8 <= size; n++) at += 8 + *(uint32_t*)(data + at);
    struct iovec* iov = calloc((size_t)n + 1, sizeof *iov);
    uint32_t* sock_of = calloc((size_t)n + 1, sizeof *sock_of);
    off_t at = 0;
    for (long i = 0; i < n; i++) {
      uint32_t len = *(uint32_t*)(data + at);
      sock_of[i] = *(uint32_t*)(data + at + 4);
      if (sock_of[i] >= (uint32_t)nsock) { fprintf(stderr, "replay-socks: record %ld names socket %u\n", i, sock_of[i]); return 2; }
      iov[i].iov_base = data + at + 8;
      iov[i].iov_len = len;
      at += 8 + len;
    }
    inet_pton(AF_INET, argv[3], &dst.sin_addr);
    dst.sin_port = htons((uint16_t)atoi(argv[4]));
    int base = atoi(argv[5]);
    int* socks = calloc((size_t)nsock, sizeof *socks);
    for (int k = 0; k < nsock; k++) socks[k] = udp_socket(base + k);
    const double pps = atof(argv[7]);
    say_start();
    double t0 = now_s();
    long sent = 0;
    for (long i = 0; i < n;) {
      long j = i + 1;
      while (j < n && j - i < BATCH && sock_of[j] == sock_of[i]) j++;
      sent += send_paced(socks[sock_of[i]], &dst, iov + i, j - i, pps, t0, i);
      i = j;
    }
    say_end(sent, now_s() - t0);
    return 0;
  }
  if (argc >= 7 && strcmp(argv[1], "udp") == 0) {
    inet_pton(AF_INET, argv[2], &dst.sin_addr);
    dst.sin_port = htons((uint16_t)atoi(argv[3]));
    size_t size = (size_t)atoi(argv[4]);
    long n = atol(argv[6]);
    uint8_t* payload = calloc(1, size);
    struct iovec* iov = calloc((size_t)n, sizeof *iov);
    for (long i = 0; i < n; i++) {
      iov[i].iov_base = payload;
      iov[i].iov_len = size;
    }
    int s = udp_socket(0);
    say_start();
    double t0 = now_s();
    long sent = send_all(s, &dst, iov, n, atof(argv[5]));
    say_end(sent, now_s() - t0);
    return 0;
  }
  fprintf(stderr, "usage: replay-gen replay FILE DST_IP DST_PORT SRC_PORT RATE_PPS | replay-socks FILE DST_IP DST_PORT SRC_PORT_BASE NSOCKETS RATE_PPS | udp DST_IP DST_PORT SIZE RATE_PPS COUNT | sink PORT\n");
  return 2;
}
