/*
 * aoe-kick: keep the AoE root disk's requests moving. Installed by netroot
 * as /usr/lib/netroot/aoe-kick on a system whose root disk is on AoE; built
 * with netroot (build.rs: a static program, so that it needs nothing from
 * the disk once it runs, and runs the same from the initramfs).
 *
 * Why: the Linux aoe driver (since its blk-mq conversion) can stall for
 * good. When every one of its frames is waiting for its completion thread
 * (a busy CPU, a burst of reads), it parks the request it was about to send
 * and sets itself a reminder; the reminder only re-runs the block queue,
 * which never hands back a request the driver already took. Only the next
 * new request sends it again. A process that is alone in reading the disk
 * (systemd faulting in its first pages right after switch_root) then waits
 * forever, with no frame on the wire and no retransmission.
 *
 * What: one direct (uncached) 4 KiB read of the disk every 2 s: that is the
 * next new request, so a parked one waits 2 s at most. Each read runs in a
 * child process: a read that is itself parked must not stop the next one
 * (at most 8 wait at a time, e.g. while the server is away).
 *
 * Why a program and not `dd` in a shell loop (netroot's kicker until
 * 2026-12): since the fix for CVE-2025-38073 (Linux 6.15, backported to
 * 6.1 and 6.12) a buffered read of a block device holds the device inode's
 * lock shared while it waits for its I/O, and lseek(2) on a block device
 * takes that lock exclusively. dd always calls lseek on its input, so one
 * parked buffered read of the whole disk (udev's probe, anyone's) blocks
 * every later dd before it reads, and the kicker with it: a Debian 13 AoE
 * boot stalled that way (docs/vm-tests.md). This program opens the disk
 * once, with O_DIRECT, and only ever calls pread(2): a direct read takes
 * neither that lock nor the page cache, so it always reaches the driver.
 * It also locks itself in memory: the kicker must never wait for a page of
 * its own to come back from the disk it kicks.
 *
 *   aoe-kick                 the disk named by netroot.aoe=eS.L on the
 *                            kernel command line, for as long as the system
 *                            runs (netroot-aoe-kick.service)
 *   aoe-kick eS.L            the same for /dev/etherd/eS.L (by hand)
 *   aoe-kick --memory eS.L NODE
 *                            from the initramfs, in memory, for as long as
 *                            the system runs: reads the device node NODE and
 *                            tells the kernel log once the first read is done
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PERIOD_SECONDS 2
#define MAX_WAITING 8
#define BLOCK 4096

static char buf[BLOCK] __attribute__((aligned(BLOCK)));

static void usage(FILE *to)
{
	fputs("usage: aoe-kick [eS.L | --memory eS.L NODE]\n"
	      "Reads the AoE disk eS.L (default: netroot.aoe= on the kernel command\n"
	      "line) every 2 s, so a request the Linux aoe driver parked is sent\n"
	      "again. Installed by netroot on a system whose root is on AoE; run by\n"
	      "netroot-aoe-kick.service and from the initramfs (netroot: docs/boot.md).\n",
	      to);
}

/* A name of the form eS.L (shelf 0-65534, slot 0-254), nothing else: it
 * becomes a path under /dev/etherd. */
static int valid_name(const char *s)
{
	char *end;
	unsigned long shelf, slot;

	if (s[0] != 'e' || s[1] < '0' || s[1] > '9')
		return 0;
	errno = 0;
	shelf = strtoul(s + 1, &end, 10);
	if (errno || *end != '.' || end[1] < '0' || end[1] > '9' || shelf > 65534)
		return 0;
	slot = strtoul(end + 1, &end, 10);
	return !errno && *end == '\0' && slot <= 254;
}

/* netroot.aoe=eS.L from the kernel command line, or NULL. */
static char *cmdline_name(void)
{
	static char line[4096];
	char *tok, *save = NULL;
	ssize_t n;
	int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return NULL;
	n = read(fd, line, sizeof(line) - 1);
	close(fd);
	if (n <= 0)
		return NULL;
	line[n] = '\0';
	for (tok = strtok_r(line, " \t\n", &save); tok; tok = strtok_r(NULL, " \t\n", &save))
		if (strncmp(tok, "netroot.aoe=", 12) == 0)
			return tok + 12;
	return NULL;
}

/* The kernel log is opened at the start: from the initramfs, /dev is
 * moved into the real root at switch_root, and the first read may be done
 * only after that. */
static void tell_kernel_log(int kmsg, const char *msg)
{
	if (kmsg >= 0 && write(kmsg, msg, strlen(msg)) < 0) {
		/* nothing to do: the note is for people reading the log */
	}
}

/* One direct read of the disk's first page; the child's exit status. */
static int read_once(int fd)
{
	return pread(fd, buf, BLOCK, 0) == BLOCK ? 0 : 1;
}

static void pause_period(void)
{
	struct timespec t = { PERIOD_SECONDS, 0 };

	while (nanosleep(&t, &t) < 0 && errno == EINTR)
		;
}

int main(int argc, char **argv)
{
	const char *name = NULL, *node = NULL;
	char path[64], note[160];
	int memory = 0;
	int fd, kmsg = -1, waiting = 0, noted = 0;

	if (argc == 2 && strcmp(argv[1], "--help") == 0) {
		usage(stdout);
		return 0;
	}
	if (argc == 1) {
		name = cmdline_name();
		if (!name)
			return 0; /* not booted from AoE by netroot: nothing to do */
	} else if (argc == 2 && argv[1][0] != '-') {
		name = argv[1];
	} else if (argc == 4 && strcmp(argv[1], "--memory") == 0) {
		name = argv[2];
		node = argv[3];
		memory = 1;
	} else {
		usage(stderr);
		return 2;
	}
	if (!valid_name(name)) {
		fprintf(stderr, "aoe-kick: \"%s\" is not an AoE disk name (eS.L, e.g. e7.1)\n", name);
		return 2;
	}
	if (!node) {
		snprintf(path, sizeof(path), "/dev/etherd/%s", name);
		node = path;
	}
	fd = open(node, O_RDONLY | O_DIRECT | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "aoe-kick: opening %s: %s\n", node, strerror(errno));
		return 1;
	}
	if (memory)
		kmsg = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);
	if (mlockall(MCL_CURRENT | MCL_FUTURE) < 0)
		fprintf(stderr, "aoe-kick: mlockall: %s (continuing)\n", strerror(errno));
	for (;;) {
		pid_t pid;
		int status;

		while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
			waiting--;
			if (memory && !noted && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
				snprintf(note, sizeof(note),
					 "netroot: aoe-kick (in memory) reads %s every %d s\n", name,
					 PERIOD_SECONDS);
				tell_kernel_log(kmsg, note);
				noted = 1;
			}
		}
		if (waiting < MAX_WAITING) {
			pid = fork();
			if (pid == 0)
				_exit(read_once(fd));
			if (pid > 0)
				waiting++;
		}
		pause_period();
	}
}
