/*
 * settod DELTA_MS: steps CLOCK_REALTIME by DELTA_MS milliseconds with settimeofday(2), the
 * way an old-style tool sets the clock from another process. Used only inside the
 * real-kernel test's qemu guest (tests/kernel/run), for the clock-change watch check and,
 * later, the foreign-step scenario; built static by that script.
 *
 * It must never set any other machine's clock: it refuses to run unless the kernel command
 * line carries the test guest's marker, ppsd.kernel_test_guest=1.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

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
	struct timeval tv;
	char *end;
	long long delta_ms, usec;

	if (argc != 2) {
		fprintf(stderr, "usage: settod DELTA_MS\n");
		return 2;
	}
	errno = 0;
	delta_ms = strtoll(argv[1], &end, 10);
	if (errno || *end || end == argv[1] || delta_ms > 86400000LL || delta_ms < -86400000LL) {
		fprintf(stderr, "settod: `%s` is not a step in ms within one day\n", argv[1]);
		return 2;
	}
	if (!in_test_guest()) {
		fprintf(stderr, "settod: refusing to run: /proc/cmdline lacks "
				"ppsd.kernel_test_guest=1 (not the test guest)\n");
		return 2;
	}
	if (gettimeofday(&tv, NULL) != 0) {
		perror("settod: gettimeofday");
		return 1;
	}
	usec = (long long)tv.tv_sec * 1000000LL + tv.tv_usec + delta_ms * 1000LL;
	tv.tv_sec = usec / 1000000LL;
	tv.tv_usec = usec % 1000000LL;
	if (settimeofday(&tv, NULL) != 0) {
		perror("settod: settimeofday");
		return 1;
	}
	return 0;
}
