/*
 * Compiled by tests/c_abi.rs against include/ppsd_shm.h and libppsd_shm, to prove that the
 * header compiles with -Wall -Wextra -Werror, that its constants and struct sizes match the
 * library, and that the calls work from C.
 *
 * Usage: ppsd_shm_probe constants
 *        ppsd_shm_probe check PATH...
 */
#include <ppsd_shm.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

_Static_assert(sizeof(ppsd_shm_verdict) == 24, "ppsd_shm_verdict is 24 bytes");
_Static_assert(sizeof(ppsd_shm_stamp) == 40, "ppsd_shm_stamp is 40 bytes");
_Static_assert(offsetof(ppsd_shm_stamp, verdict) == 16, "verdict at offset 16");

#define SHOW(name) printf("const %s=%lld\n", #name, (long long)(name))

static void constants(void) {
    SHOW(PPSD_SHM_LAYOUT_VERSION);
    SHOW(PPSD_SHM_OK);
    SHOW(PPSD_SHM_E_INVALID_ARGUMENT);
    SHOW(PPSD_SHM_E_NOT_FOUND);
    SHOW(PPSD_SHM_E_IO);
    SHOW(PPSD_SHM_E_NOT_REGULAR_FILE);
    SHOW(PPSD_SHM_E_WRITABLE_BY_OTHERS);
    SHOW(PPSD_SHM_E_TOO_SMALL);
    SHOW(PPSD_SHM_E_BAD_MAGIC);
    SHOW(PPSD_SHM_E_UNSUPPORTED_VERSION);
    SHOW(PPSD_SHM_E_SIZE_MISMATCH);
    SHOW(PPSD_SHM_E_PANIC);
    SHOW(PPSD_SHM_SYNC_UNKNOWN);
    SHOW(PPSD_SHM_SYNC_INSYNC);
    SHOW(PPSD_SHM_SYNC_SOON_OUT_OF_SYNC);
    SHOW(PPSD_SHM_SYNC_OUT_OF_SYNC);
    SHOW(PPSD_SHM_LEAP_UNKNOWN);
    SHOW(PPSD_SHM_LEAP_NONE);
    SHOW(PPSD_SHM_LEAP_POSITIVE);
    SHOW(PPSD_SHM_LEAP_NEGATIVE);
    SHOW(PPSD_SHM_REASON_NONE);
    SHOW(PPSD_SHM_REASON_EXPIRED);
    SHOW(PPSD_SHM_REASON_OUT_OF_SYNC);
    SHOW(PPSD_SHM_REASON_UNKNOWN);
    SHOW(PPSD_SHM_REASON_IN_LEAP_WINDOW);
    SHOW(PPSD_SHM_REASON_WRITER_GONE);
    SHOW(PPSD_SHM_REASON_LAYOUT_MISMATCH);
    SHOW(PPSD_SHM_REASON_BUSY);
    SHOW(PPSD_SHM_REASON_CHECKSUM);
    SHOW(PPSD_SHM_REASON_CLOCK_NAMESPACE);
    SHOW(PPSD_SHM_REASON_LEAP_UNKNOWN);
    SHOW(PPSD_SHM_REASON_INCONSISTENT);
    SHOW(PPSD_SHM_REASON_CLOCK_UNREADABLE);
    SHOW(PPSD_SHM_REASON_FILE_SHRUNK);
    printf("const guard_install=%d\n", ppsd_shm_install_sigbus_guard());
    printf("const library_layout_version=%u\n", ppsd_shm_layout_version());
    for (int code = 0; code >= -11; code--)
        printf("strerror %d=%s\n", code, ppsd_shm_strerror(code));
    for (uint32_t reason = 0; reason <= 14; reason++)
        printf("reason %u=%s\n", reason, ppsd_shm_reason_str(reason));
}

static int check(const char *path) {
    int err = 12345;
    char msg[256];
    memset(msg, 'x', sizeof msg);
    ppsd_shm *shm = ppsd_shm_open(path, &err, msg, sizeof msg);
    if (shm == NULL) {
        printf("open-error %s code=%d msg=%s\n", path, err, msg);
        return err < 0 ? 0 : 1;
    }
    ppsd_shm_verdict v;
    int rc = ppsd_shm_check(shm, &v);
    printf("check %s rc=%d may_sign=%d state=%u leap=%u reason=%u bound=%" PRIu64 " why=%s\n",
           path, rc, v.may_sign, v.state, v.leap, v.reason, v.error_bound_ns,
           ppsd_shm_reason_str(v.reason));
    ppsd_shm_stamp ts;
    rc = ppsd_shm_timestamp(shm, &ts);
    printf("stamp %s rc=%d sec=%" PRId64 " nsec=%u may_sign=%d reason=%u\n", path, rc,
           ts.realtime_sec, ts.realtime_nsec, ts.verdict.may_sign, ts.verdict.reason);
    ppsd_shm_close(shm);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "constants") == 0) {
        constants();
        return 0;
    }
    if (argc >= 3 && strcmp(argv[1], "check") == 0) {
        int bad = 0;
        for (int i = 2; i < argc; i++)
            bad |= check(argv[i]);
        if (ppsd_shm_check(NULL, NULL) != PPSD_SHM_E_INVALID_ARGUMENT)
            bad = 1;
        return bad;
    }
    fprintf(stderr, "usage: %s constants | check PATH...\n", argv[0]);
    return 2;
}
