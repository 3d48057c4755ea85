/*
 * ntpshm UNIT: the real-kernel test guest's time-of-day reference. It creates NTP SHM segment
 * UNIT (System V key 0x4e545030 + UNIT, mode 0600, root's) and stores one sample per line read
 * from stdin, in mode 1 (valid flag and count protocol, as ppsd's reader expects):
 *
 *     CLOCK_SEC RECEIVE_SEC RECEIVE_NSEC LEAP
 *
 * CLOCK_SEC is the true UTC second of a pulse (POSIX seconds), RECEIVE_* the guest's
 * CLOCK_REALTIME read at that pulse, LEAP the NTP leap indicator (0 none, 1 insert, 2 delete).
 * `kernel-guest pulse --shm-unit UNIT` starts it and writes one line after each pulse it fires.
 * A malformed line is reported on stderr and ends the program (exit 1), leaving `valid` clear,
 * so ppsd's reader sees no sample rather than a wrong one. On end of input it clears `valid`.
 *
 * Built static by tests/kernel/run (gcc -static), like settod. It must never run outside the
 * test guest (it refuses unless the kernel command line carries ppsd.kernel_test_guest=1): on a
 * real machine segment UNIT may belong to gpsd or a receiver driver that a real ntpd or chrony
 * trusts.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>

/* struct shmTime as ntpd's refclock_shm defines it (and src/sys/ntp_shm.rs reads it). */
struct shm_time {
	int mode;
	volatile int count;
	time_t clock_sec;
	int clock_usec;
	time_t receive_sec;
	int receive_usec;
	int leap;
	int precision;
	int nsamples;
	volatile int valid;
	unsigned clock_nsec;
	unsigned receive_nsec;
	int dummy[8];
};

static int in_test_guest(void)
{
	char line[4096];
	FILE *f = fopen("/proc/cmdline", "r");
	int found = 0;

	if (!f)
		return 0;
	if (fgets(line, sizeof(line), f)) {
		for (char *w = strtok(line, " \n"); w; w = strtok(NULL, " \n"))
			if (strcmp(w, "ppsd.kernel_test_guest=1") == 0)
				found = 1;
	}
	fclose(f);
	return found;
}

int main(int argc, char **argv)
{
	char *end, line[256];
	long unit;
	unsigned long lineno = 0;
	int id;
	struct shm_time *t;

	if (argc != 2) {
		fprintf(stderr, "usage: ntpshm UNIT   (samples on stdin: CLOCK_SEC RECEIVE_SEC "
				"RECEIVE_NSEC LEAP)\n");
		return 2;
	}
	errno = 0;
	unit = strtol(argv[1], &end, 10);
	if (errno || *end || end == argv[1] || unit < 0 || unit > 255) {
		fprintf(stderr, "ntpshm: unit `%s` is not 0 ... 255\n", argv[1]);
		return 2;
	}
	if (!in_test_guest()) {
		fprintf(stderr, "ntpshm: refusing to run: /proc/cmdline lacks "
				"ppsd.kernel_test_guest=1 (not the test guest)\n");
		return 2;
	}
	id = shmget((key_t)(0x4e545030 + unit), sizeof(struct shm_time), IPC_CREAT | 0600);
	if (id < 0) {
		fprintf(stderr, "ntpshm: shmget unit %ld: %s\n", unit, strerror(errno));
		return 1;
	}
	t = shmat(id, NULL, 0);
	if (t == (void *)-1) {
		fprintf(stderr, "ntpshm: shmat unit %ld: %s\n", unit, strerror(errno));
		return 1;
	}
	t->valid = 0;
	t->mode = 1;
	t->precision = -20;
	t->nsamples = 3;
	while (fgets(line, sizeof(line), stdin)) {
		long long clock_sec, receive_sec, receive_nsec;
		int leap, n;

		lineno++;
		if (sscanf(line, "%lld %lld %lld %d %n", &clock_sec, &receive_sec, &receive_nsec,
			   &leap, &n) != 4 || line[n] != '\0' || receive_nsec < 0 ||
		    receive_nsec >= 1000000000LL || leap < 0 || leap > 3) {
			t->valid = 0;
			fprintf(stderr, "ntpshm: stdin line %lu: not `CLOCK_SEC RECEIVE_SEC "
					"RECEIVE_NSEC LEAP`: %s", lineno, line);
			return 1;
		}
		/* Mode 1: count changes around the update; a reader that sees it change retries. */
		t->count++;
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		t->clock_sec = (time_t)clock_sec;
		t->clock_usec = 0;
		t->clock_nsec = 0;
		t->receive_sec = (time_t)receive_sec;
		t->receive_usec = (int)(receive_nsec / 1000);
		t->receive_nsec = (unsigned)receive_nsec;
		t->leap = leap;
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		t->count++;
		t->valid = 1;
	}
	t->valid = 0;
	shmdt(t);
	return 0;
}
