/*
 * gvprobe: the isolation test's packet tool, run inside the tiny guest (and in the gateway's
 * namespace). busybox cannot send a frame with a forged source MAC, ARP sender or DHCP reply,
 * so the test builds each frame itself and this tool only puts bytes on the wire or counts them.
 *
 *   gvprobe send IFACE COUNT HEXFRAME      write the frame COUNT times (20 ms apart)
 *   gvprobe count IFACE SECONDS HEX...     count received frames containing each marker
 *   gvprobe fetch IP PORT PATH             HTTP/1.0 GET; the body on stdout, exit 0 only on 200
 *
 * `fetch` exists because Debian's static busybox wget segfaults (static glibc cannot load NSS).
 * `count` ignores frames this host sent itself (PACKET_OUTGOING) and prints one line per marker:
 * "GVPROBE-COUNT <marker> <n>".
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int unhex(const char *s, unsigned char *out, size_t max) {
  size_t n = strlen(s);
  if (n % 2 || n / 2 > max) return -1;
  for (size_t i = 0; i < n / 2; i++) {
    unsigned v;
    if (sscanf(s + 2 * i, "%2x", &v) != 1) return -1;
    out[i] = (unsigned char)v;
  }
  return (int)(n / 2);
}

static int open_on(const char *ifname) {
  int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
  if (fd < 0) { perror("socket"); exit(2); }
  struct sockaddr_ll sll = {0};
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_ALL);
  sll.sll_ifindex = (int)if_nametoindex(ifname);
  if (!sll.sll_ifindex) { perror("if_nametoindex"); exit(2); }
  if (bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) { perror("bind"); exit(2); }
  return fd;
}

/* One GET over plain TCP, 3 s at most; a job file is small, so the whole answer fits the buffer. */
static int fetch(const char *ip, int port, const char *path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) { perror("socket"); return 2; }
  struct timeval tv = {3, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  struct sockaddr_in sa = {0};
  sa.sin_family = AF_INET;
  sa.sin_port = htons((unsigned short)port);
  if (inet_pton(AF_INET, ip, &sa.sin_addr) != 1) { fprintf(stderr, "bad ip %s\n", ip); return 2; }
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) { perror("connect"); return 1; }
  char req[512];
  int rl = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n", path, ip);
  if (rl <= 0 || (size_t)rl >= sizeof req || send(fd, req, (size_t)rl, 0) != rl) { perror("send"); return 1; }
  static char buf[1 << 16];
  size_t have = 0;
  ssize_t n;
  while (have < sizeof buf - 1 && (n = recv(fd, buf + have, sizeof buf - 1 - have, 0)) > 0) have += (size_t)n;
  close(fd);
  buf[have] = 0;
  if (strncmp(buf, "HTTP/1.", 7) || strncmp(buf + 8, " 200", 4)) {
    fprintf(stderr, "%.60s\n", buf);
    return 1;
  }
  char *body = strstr(buf, "\r\n\r\n");
  if (!body) return 1;
  body += 4;
  fwrite(body, 1, have - (size_t)(body - buf), stdout);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 5 && !strcmp(argv[1], "fetch")) return fetch(argv[2], atoi(argv[3]), argv[4]);
  if (argc >= 5 && !strcmp(argv[1], "send")) {
    unsigned char frame[1600];
    int len = unhex(argv[4], frame, sizeof frame);
    if (len < 14) { fprintf(stderr, "bad frame\n"); return 2; }
    int fd = open_on(argv[2]);
    int sent = 0;
    for (int i = 0; i < atoi(argv[3]); i++) {
      if (send(fd, frame, (size_t)len, 0) == len) sent++;
      usleep(20000);
    }
    printf("GVPROBE-SENT %d\n", sent);
    return 0;
  }
  if (argc >= 5 && !strcmp(argv[1], "count")) {
    int nm = argc - 4;
    unsigned char marks[64][64];
    int mlen[64], hits[64] = {0};
    if (nm > 64) return 2;
    for (int i = 0; i < nm; i++)
      if ((mlen[i] = unhex(argv[4 + i], marks[i], sizeof marks[i])) <= 0) return 2;
    int fd = open_on(argv[2]);
    struct timeval tv = {0, 200000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    time_t end = time(NULL) + atoi(argv[3]);
    printf("GVPROBE-COUNTING\n");
    fflush(stdout);
    unsigned char buf[2048];
    while (time(NULL) < end) {
      struct sockaddr_ll from;
      socklen_t fl = sizeof from;
      ssize_t n = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
      if (n <= 0 || from.sll_pkttype == PACKET_OUTGOING) continue;
      for (int i = 0; i < nm; i++)
        if (memmem(buf, (size_t)n, marks[i], (size_t)mlen[i])) hits[i]++;
    }
    for (int i = 0; i < nm; i++) printf("GVPROBE-COUNT %s %d\n", argv[4 + i], hits[i]);
    return 0;
  }
  fprintf(stderr, "usage: gvprobe send IFACE COUNT HEX | count IFACE SECONDS HEX... | fetch IP PORT PATH\n");
  return 2;
}
