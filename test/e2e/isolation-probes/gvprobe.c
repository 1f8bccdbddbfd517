/*
 * gvprobe: the isolation test's packet tool, run inside the tiny guest (and in the gateway's
 * namespace). busybox cannot send a frame with a forged source MAC, ARP sender or DHCP reply,
 * so the test builds each frame itself and this tool only puts bytes on the wire or counts them.
 *
 *   gvprobe send IFACE COUNT HEXFRAME      write the frame COUNT times (20 ms apart)
 *   gvprobe count IFACE SECONDS HEX...     count received frames containing each marker
 *
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

int main(int argc, char **argv) {
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
  fprintf(stderr, "usage: gvprobe send IFACE COUNT HEX | gvprobe count IFACE SECONDS HEX...\n");
  return 2;
}
