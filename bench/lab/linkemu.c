/*
 * linkemu: the lab's user-space link emulator (this kernel has no netem).
 *
 * Creates one TUN device in each of two network namespaces and forwards IP
 * packets between them, one delay line per direction:
 *   loss (random, then Gilbert-Elliott bursts) -> rate cap (serialising
 *   bottleneck with a tail-drop queue) -> one-way delay +- jitter (a heap by
 *   due time, so jitter reorders) -> write to the other TUN.
 * Optionally it is a port-translating NAT at the client's end of the link
 * (UDP and TCP source ports are mapped as packets enter the link; replies
 * are mapped back, or dropped when no mapping exists, as they leave it),
 * whose mapping `rebind` replaces, as a home router does.
 * It also counts packets by server-side port, for per-session idle costs.
 *
 * usage: linkemu CLIENT_NETNS CLIENT_TUN SERVER_NETNS SERVER_TUN
 * Commands on stdin, one per line; each gets one line on stdout:
 *   set c2s|s2c|both key=value...   delay_us jitter_us loss_ppm ge_enter_ppm
 *                                   ge_exit_ppm rate_bps(bytes/s, 0 = none)
 *                                   queue_bytes seed
 *   clear                           no impairment either way
 *   nat on|off ; rebind             port translation of the client's ports
 *   stats                           counters as one JSON object
 *   ports                           packet counts by server-side and by client-side port (JSON)
 *   reset                           zero the counters
 *   quit
 * The TUN devices vanish with the process (they are not persistent).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define SLOT_BYTES 2048
#define SLOTS 16384
#define BATCH 64

typedef struct {
  uint32_t len;
  int64_t due;
  uint64_t seq;
  unsigned char data[SLOT_BYTES];
} Packet;

typedef struct {
  int64_t delay_ns, jitter_ns;
  uint32_t loss_ppm, ge_enter_ppm, ge_exit_ppm;
  uint64_t rate_bps;  /* bytes per second; 0 = unlimited */
  uint64_t queue_bytes;
  uint64_t rng;
  int ge_bad;
  int64_t busy_until; /* when the bottleneck finishes sending what it holds */
  int in_fd, out_fd;
  int idx; /* 0 = client to server, 1 = server to client */
  /* heap of slot indices by (due, seq) */
  int heap[SLOTS];
  int heap_len;
  uint64_t offered, delivered, lost, burst_lost, queue_dropped, pool_dropped, write_failed, nat_dropped;
  uint64_t bytes_delivered, max_backlog;
} Direction;

static Packet *pool;
static int free_list[SLOTS];
static int free_len;
static uint64_t seq_counter;
static Direction dirs[2];
static uint64_t port_packets[2][65536];   /* by server-side port */
static uint64_t client_port_packets[2][65536]; /* by client-side port (before the NAT) */
static int nat_on;
static uint32_t nat_shift = 4099; /* nonzero from the start: translated ports differ from the inner ones */
static uint32_t nat_epoch = 1;
static uint32_t nat_seen[65536];

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static uint64_t next_random(Direction *d) {
  /* xorshift64* */
  uint64_t x = d->rng;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  d->rng = x;
  return x * 0x2545F4914F6CDD1DULL;
}

static uint32_t random_ppm(Direction *d) { return (uint32_t)(next_random(d) >> 32) % 1000000u; }

static int before(int a, int b) {
  return pool[a].due < pool[b].due || (pool[a].due == pool[b].due && pool[a].seq < pool[b].seq);
}

static void heap_push(Direction *d, int slot) {
  int i = d->heap_len++;
  d->heap[i] = slot;
  while (i > 0) {
    int p = (i - 1) / 2;
    if (!before(d->heap[i], d->heap[p])) break;
    int t = d->heap[i];
    d->heap[i] = d->heap[p];
    d->heap[p] = t;
    i = p;
  }
}

static int heap_pop(Direction *d) {
  int top = d->heap[0];
  d->heap[0] = d->heap[--d->heap_len];
  int i = 0;
  for (;;) {
    int l = 2 * i + 1, r = l + 1, m = i;
    if (l < d->heap_len && before(d->heap[l], d->heap[m])) m = l;
    if (r < d->heap_len && before(d->heap[r], d->heap[m])) m = r;
    if (m == i) break;
    int t = d->heap[i];
    d->heap[i] = d->heap[m];
    d->heap[m] = t;
    i = m;
  }
  return top;
}

static void die(const char *what) {
  fprintf(stderr, "linkemu: %s: %s\n", what, strerror(errno));
  exit(1);
}

/* Open a TUN device named `name` inside network namespace `netns` (by its /run/netns name). */
static int open_tun(const char *netns, const char *name) {
  char path[256];
  snprintf(path, sizeof path, "/run/netns/%s", netns);
  int nsfd = open(path, O_RDONLY | O_CLOEXEC);
  if (nsfd < 0) die(path);
  if (setns(nsfd, CLONE_NEWNET) < 0) die("setns");
  close(nsfd);
  int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0) die("/dev/net/tun");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) die("TUNSETIFF");
  if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0) die("O_NONBLOCK");
  return fd;
}

/* RFC 1624 incremental update of a 16-bit ones' complement checksum. */
static uint16_t csum_replace(uint16_t check, uint16_t old_v, uint16_t new_v) {
  uint32_t sum = (uint16_t)~check + (uint16_t)~old_v + new_v;
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)~sum;
}

static uint16_t rd16(const unsigned char *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static void wr16(unsigned char *p, uint16_t v) {
  p[0] = v >> 8;
  p[1] = v & 0xff;
}

static uint16_t nat_out(uint16_t inner) { return (uint16_t)(((inner - 1024u + nat_shift) % 64512u) + 1024u); }
static uint16_t nat_in(uint16_t outer) { return (uint16_t)(((outer - 1024u + 64512u - nat_shift % 64512u) % 64512u) + 1024u); }

/* Rewrite one port of a TCP/UDP header (offset 0 = source, 2 = destination), fixing the checksum. */
static void rewrite_port(unsigned char *l4, unsigned proto, unsigned avail, unsigned off, uint16_t v) {
  uint16_t old_v = rd16(l4 + off);
  wr16(l4 + off, v);
  unsigned check_off = proto == 6 ? 16 : 6;
  if (avail < check_off + 2) return;
  uint16_t c = rd16(l4 + check_off);
  if (proto == 17 && c == 0) return; /* UDP without a checksum */
  c = csum_replace(c, old_v, v);
  if (proto == 17 && c == 0) c = 0xffff;
  wr16(l4 + check_off, c);
}

/* The TCP/UDP header of an unfragmented IPv4 packet, or NULL. */
static unsigned char *l4_header(Packet *p, unsigned *proto, unsigned *avail) {
  unsigned char *ip = p->data;
  if (p->len < 20 || (ip[0] >> 4) != 4) return NULL;
  unsigned ihl = (ip[0] & 15u) * 4u;
  *proto = ip[9];
  if ((*proto != 6 && *proto != 17) || (rd16(ip + 6) & 0x1fff) != 0 || p->len < ihl + 8) return NULL;
  *avail = p->len - ihl;
  return ip + ihl;
}

/*
 * On entry to the link: count the packet by its server-side port, and for the
 * client's packets apply the NAT (which sits at the client's end of the link).
 */
static void classify_entry(Direction *d, Packet *p) {
  unsigned proto, avail;
  unsigned char *l4 = l4_header(p, &proto, &avail);
  if (!l4) return;
  if (d->idx == 1) {
    port_packets[1][rd16(l4)]++;
    if (!nat_on) client_port_packets[1][rd16(l4 + 2)]++;
    return;
  }
  port_packets[0][rd16(l4 + 2)]++;
  client_port_packets[0][rd16(l4)]++;
  if (!nat_on || rd16(l4) < 1024) return;
  uint16_t inner = rd16(l4);
  nat_seen[inner] = nat_epoch;
  rewrite_port(l4, proto, avail, 0, nat_out(inner));
}

/* On delivery to the client: undo the NAT. Returns 0 to drop (no mapping for this port now). */
static int nat_reply(Packet *p) {
  unsigned proto, avail;
  unsigned char *l4 = l4_header(p, &proto, &avail);
  if (!l4 || !nat_on || rd16(l4 + 2) < 1024) return 1;
  uint16_t inner = nat_in(rd16(l4 + 2));
  if (nat_seen[inner] != nat_epoch) return 0;
  rewrite_port(l4, proto, avail, 2, inner);
  client_port_packets[1][inner]++;
  return 1;
}

/* Decide a packet's fate; on pass, queue it on the direction's delay line. */
static void admit(Direction *d, int slot, int64_t now) {
  Packet *p = &pool[slot];
  d->offered++;
  classify_entry(d, p);
  if (d->ge_enter_ppm > 0) {
    if (d->ge_bad) {
      if (random_ppm(d) < d->ge_exit_ppm) d->ge_bad = 0;
    } else if (random_ppm(d) < d->ge_enter_ppm) {
      d->ge_bad = 1;
    }
    if (d->ge_bad) {
      d->lost++;
      d->burst_lost++;
      free_list[free_len++] = slot;
      return;
    }
  }
  if (d->loss_ppm > 0 && random_ppm(d) < d->loss_ppm) {
    d->lost++;
    free_list[free_len++] = slot;
    return;
  }
  int64_t depart = now;
  if (d->rate_bps > 0) {
    int64_t start = d->busy_until > now ? d->busy_until : now;
    uint64_t backlog = (uint64_t)((start - now) * (double)d->rate_bps / 1e9);
    if (backlog + p->len > d->queue_bytes) {
      d->queue_dropped++;
      free_list[free_len++] = slot;
      return;
    }
    if (backlog + p->len > d->max_backlog) d->max_backlog = backlog + p->len;
    depart = start + (int64_t)((double)p->len * 1e9 / (double)d->rate_bps);
    d->busy_until = depart;
  }
  int64_t delay = d->delay_ns;
  if (d->jitter_ns > 0) {
    delay += (int64_t)(next_random(d) % (uint64_t)(2 * d->jitter_ns + 1)) - d->jitter_ns;
    if (delay < 0) delay = 0;
  }
  p->due = depart + delay;
  p->seq = seq_counter++;
  heap_push(d, slot);
}

static void read_side(Direction *d, int64_t now) {
  for (int i = 0; i < BATCH; i++) {
    if (free_len == 0) {
      /* Out of buffers: read into a scratch slot and drop, so the TUN queue drains. */
      static unsigned char scratch[SLOT_BYTES];
      ssize_t n = read(d->in_fd, scratch, sizeof scratch);
      if (n <= 0) return;
      d->offered++;
      d->pool_dropped++;
      continue;
    }
    int slot = free_list[--free_len];
    ssize_t n = read(d->in_fd, pool[slot].data, SLOT_BYTES);
    if (n <= 0) {
      free_list[free_len++] = slot;
      if (n < 0 && errno != EAGAIN && errno != EINTR) die("read");
      return;
    }
    pool[slot].len = (uint32_t)n;
    admit(d, slot, now);
  }
}

static void deliver_due(Direction *d, int64_t now) {
  while (d->heap_len > 0 && pool[d->heap[0]].due <= now) {
    int slot = heap_pop(d);
    Packet *p = &pool[slot];
    if (d->idx == 1 && !nat_reply(p)) {
      d->nat_dropped++;
    } else if (write(d->out_fd, p->data, p->len) == (ssize_t)p->len) {
      d->delivered++;
      d->bytes_delivered += p->len;
    } else {
      d->write_failed++;
    }
    free_list[free_len++] = slot;
  }
}

static void set_key(Direction *d, const char *key, long long v) {
  if (!strcmp(key, "delay_us")) d->delay_ns = v * 1000;
  else if (!strcmp(key, "jitter_us")) d->jitter_ns = v * 1000;
  else if (!strcmp(key, "loss_ppm")) d->loss_ppm = (uint32_t)v;
  else if (!strcmp(key, "ge_enter_ppm")) d->ge_enter_ppm = (uint32_t)v, d->ge_bad = 0;
  else if (!strcmp(key, "ge_exit_ppm")) d->ge_exit_ppm = (uint32_t)v;
  else if (!strcmp(key, "rate_bps")) d->rate_bps = (uint64_t)v, d->busy_until = 0;
  else if (!strcmp(key, "queue_bytes")) d->queue_bytes = (uint64_t)v;
  else if (!strcmp(key, "seed")) d->rng = (uint64_t)v * 2654435761ULL + 0x9E3779B97F4A7C15ULL;
}

static void clear_dir(Direction *d) {
  d->delay_ns = d->jitter_ns = 0;
  d->loss_ppm = d->ge_enter_ppm = d->ge_exit_ppm = 0;
  d->rate_bps = 0;
  d->queue_bytes = 256 * 1024;
  d->ge_bad = 0;
}

static void reset_counters(void) {
  for (int i = 0; i < 2; i++) {
    Direction *d = &dirs[i];
    d->offered = d->delivered = d->lost = d->burst_lost = d->queue_dropped = d->pool_dropped = 0;
    d->write_failed = d->nat_dropped = d->bytes_delivered = d->max_backlog = 0;
  }
  memset(port_packets, 0, sizeof port_packets);
  memset(client_port_packets, 0, sizeof client_port_packets);
}

static void print_dir(const char *name, Direction *d) {
  printf("\"%s\":{\"offered\":%llu,\"delivered\":%llu,\"bytes\":%llu,\"lost\":%llu,\"burstLost\":%llu,"
         "\"queueDropped\":%llu,\"poolDropped\":%llu,\"writeFailed\":%llu,\"natDropped\":%llu,\"maxBacklog\":%llu,\"held\":%d}",
         name, (unsigned long long)d->offered, (unsigned long long)d->delivered, (unsigned long long)d->bytes_delivered,
         (unsigned long long)d->lost, (unsigned long long)d->burst_lost, (unsigned long long)d->queue_dropped,
         (unsigned long long)d->pool_dropped, (unsigned long long)d->write_failed, (unsigned long long)d->nat_dropped,
         (unsigned long long)d->max_backlog, d->heap_len);
}

static void command(char *line) {
  char *save = NULL;
  char *verb = strtok_r(line, " \t\r\n", &save);
  if (verb == NULL) return;
  if (!strcmp(verb, "set")) {
    char *which = strtok_r(NULL, " \t\r\n", &save);
    int lo = 0, hi = 1;
    if (which && !strcmp(which, "c2s")) hi = 0;
    else if (which && !strcmp(which, "s2c")) lo = 1;
    else if (!which || strcmp(which, "both")) {
      printf("error set needs c2s, s2c or both\n");
      return;
    }
    char *kv;
    while ((kv = strtok_r(NULL, " \t\r\n", &save)) != NULL) {
      char *eq = strchr(kv, '=');
      if (!eq) continue;
      *eq = 0;
      for (int i = lo; i <= hi; i++) set_key(&dirs[i], kv, atoll(eq + 1));
    }
    printf("ok\n");
  } else if (!strcmp(verb, "clear")) {
    clear_dir(&dirs[0]);
    clear_dir(&dirs[1]);
    printf("ok\n");
  } else if (!strcmp(verb, "nat")) {
    char *v = strtok_r(NULL, " \t\r\n", &save);
    nat_on = v && !strcmp(v, "on");
    printf("ok\n");
  } else if (!strcmp(verb, "rebind")) {
    nat_shift += 7919;
    nat_epoch++;
    printf("ok\n");
  } else if (!strcmp(verb, "stats")) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{");
    print_dir("c2s", &dirs[0]);
    printf(",");
    print_dir("s2c", &dirs[1]);
    printf(",\"cpuUserUs\":%lld,\"cpuSysUs\":%lld}\n", (long long)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec,
           (long long)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec);
  } else if (!strcmp(verb, "ports")) {
    printf("{");
    const char *names[4] = {"c2s", "s2c", "clientC2s", "clientS2c"};
    for (int i = 0; i < 4; i++) {
      uint64_t *counts = i < 2 ? port_packets[i] : client_port_packets[i - 2];
      printf("%s\"%s\":{", i ? "," : "", names[i]);
      int first = 1;
      for (int port = 0; port < 65536; port++) {
        if (counts[port] == 0) continue;
        printf("%s\"%d\":%llu", first ? "" : ",", port, (unsigned long long)counts[port]);
        first = 0;
      }
      printf("}");
    }
    printf("}\n");
  } else if (!strcmp(verb, "reset")) {
    reset_counters();
    printf("ok\n");
  } else if (!strcmp(verb, "quit")) {
    exit(0);
  } else {
    printf("error unknown command %s\n", verb);
  }
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: linkemu CLIENT_NETNS CLIENT_TUN SERVER_NETNS SERVER_TUN\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  setvbuf(stdout, NULL, _IOLBF, 0);
  pool = calloc(SLOTS, sizeof(Packet));
  if (!pool) die("calloc");
  for (int i = 0; i < SLOTS; i++) free_list[free_len++] = SLOTS - 1 - i;
  /* Back to our own namespace afterwards: the emulator belongs to neither side. */
  int home_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  if (home_ns < 0) die("/proc/self/ns/net");
  int client_fd = open_tun(argv[1], argv[2]);
  int server_fd = open_tun(argv[3], argv[4]);
  if (setns(home_ns, CLONE_NEWNET) < 0) die("setns back");
  close(home_ns);
  for (int i = 0; i < 2; i++) {
    clear_dir(&dirs[i]);
    dirs[i].idx = i;
    set_key(&dirs[i], "seed", i + 1);
  }
  dirs[0].in_fd = client_fd;
  dirs[0].out_fd = server_fd;
  dirs[1].in_fd = server_fd;
  dirs[1].out_fd = client_fd;
  printf("ready\n");

  char line[1024];
  size_t line_len = 0;
  struct pollfd fds[3] = {{0, POLLIN, 0}, {client_fd, POLLIN, 0}, {server_fd, POLLIN, 0}};
  for (;;) {
    int64_t now = now_ns();
    int64_t next = -1;
    for (int i = 0; i < 2; i++) {
      if (dirs[i].heap_len == 0) continue;
      int64_t due = pool[dirs[i].heap[0]].due;
      if (next < 0 || due < next) next = due;
    }
    struct timespec ts, *tsp = NULL;
    if (next >= 0) {
      int64_t wait = next > now ? next - now : 0;
      ts.tv_sec = wait / 1000000000LL;
      ts.tv_nsec = wait % 1000000000LL;
      tsp = &ts;
    }
    int n = ppoll(fds, 3, tsp, NULL);
    if (n < 0 && errno != EINTR) die("ppoll");
    now = now_ns();
    if (n > 0) {
      if (fds[1].revents & POLLIN) read_side(&dirs[0], now);
      if (fds[2].revents & POLLIN) read_side(&dirs[1], now);
      if (fds[0].revents & (POLLIN | POLLHUP)) {
        ssize_t r = read(0, line + line_len, sizeof line - 1 - line_len);
        if (r <= 0) return 0; /* the lab went away: so do the TUN devices */
        line_len += (size_t)r;
        char *nl;
        while ((nl = memchr(line, '\n', line_len)) != NULL) {
          *nl = 0;
          command(line);
          size_t rest = line_len - (size_t)(nl + 1 - line);
          memmove(line, nl + 1, rest);
          line_len = rest;
        }
        if (line_len == sizeof line - 1) line_len = 0;
      }
    }
    deliver_due(&dirs[0], now);
    deliver_due(&dirs[1], now);
  }
}
