/*
 * ppsd_shm.h - C API of libppsd_shm: may this time-stamp signer sign now?
 *
 * ppsd publishes the trust state of CLOCK_REALTIME in a shared-memory record
 * (default /run/ppsd/state). This library maps it read-only and answers, at
 * about the cost of one clock_gettime(), whether a signer may issue a
 * time-stamp now, with which error bound, and if not, why not.
 *
 *     int err; char msg[256];
 *     ppsd_shm *shm = ppsd_shm_open(PPSD_SHM_DEFAULT_PATH, &err, msg, sizeof msg);
 *     if (!shm) { fprintf(stderr, "%s\n", msg); return 1; }
 *     ppsd_shm_stamp ts;
 *     if (ppsd_shm_timestamp(shm, &ts) == PPSD_SHM_OK && ts.verdict.may_sign)
 *         sign_with(ts.realtime_sec, ts.realtime_nsec, ts.verdict.error_bound_ns);
 *     else
 *         log_refusal(ppsd_shm_reason_str(ts.verdict.reason));
 *     ppsd_shm_close(shm);
 *
 * A handle must not be used by two threads at the same time: open one per
 * thread (cheap: one open, one fstat, one mmap). No function blocks; none
 * lets a panic or signal escape from the library. Link with
 * `pkg-config --cflags --libs ppsd-shm`. The record layout itself is
 * documented in LAYOUT.md for readers that cannot use this library.
 */
#ifndef PPSD_SHM_H
#define PPSD_SHM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Where ppsd publishes its state unless configured otherwise. */
#define PPSD_SHM_DEFAULT_PATH "/run/ppsd/state"

/* Layout version this header describes (see ppsd_shm_layout_version()). */
#define PPSD_SHM_LAYOUT_VERSION 1

/* Return codes: 0 or negative. */
#define PPSD_SHM_OK 0
#define PPSD_SHM_E_INVALID_ARGUMENT (-1)   /* null pointer, path not UTF-8 */
#define PPSD_SHM_E_NOT_FOUND (-2)          /* no file at the path */
#define PPSD_SHM_E_IO (-3)                 /* a system call failed */
#define PPSD_SHM_E_NOT_REGULAR_FILE (-4)   /* directory, FIFO, device... */
#define PPSD_SHM_E_WRITABLE_BY_OTHERS (-5) /* group/other may write: refused */
#define PPSD_SHM_E_TOO_SMALL (-6)          /* empty or truncated file */
#define PPSD_SHM_E_BAD_MAGIC (-7)          /* not a ppsd state file */
#define PPSD_SHM_E_UNSUPPORTED_VERSION (-8) /* newer (or older) layout */
#define PPSD_SHM_E_SIZE_MISMATCH (-9)      /* header size != layout size */
#define PPSD_SHM_E_PANIC (-10)             /* internal bug; call did nothing */

/* Sync states (ppsd_shm_verdict.state). 0 is UNKNOWN so zeroes fail closed. */
#define PPSD_SHM_SYNC_UNKNOWN 0
#define PPSD_SHM_SYNC_INSYNC 1
#define PPSD_SHM_SYNC_SOON_OUT_OF_SYNC 2
#define PPSD_SHM_SYNC_OUT_OF_SYNC 3

/* Leap states (ppsd_shm_verdict.leap). */
#define PPSD_SHM_LEAP_UNKNOWN 0
#define PPSD_SHM_LEAP_NONE 1
#define PPSD_SHM_LEAP_POSITIVE 2
#define PPSD_SHM_LEAP_NEGATIVE 3

/* Why not (ppsd_shm_verdict.reason); 0 when may_sign is 1. */
#define PPSD_SHM_REASON_NONE 0
#define PPSD_SHM_REASON_EXPIRED 1          /* daemon stopped renewing the state */
#define PPSD_SHM_REASON_OUT_OF_SYNC 2      /* or error bound > declared accuracy */
#define PPSD_SHM_REASON_UNKNOWN 3          /* state UNKNOWN or never published */
#define PPSD_SHM_REASON_IN_LEAP_WINDOW 4   /* pause around a leap second */
#define PPSD_SHM_REASON_WRITER_GONE 5      /* daemon closed or removed the record */
#define PPSD_SHM_REASON_LAYOUT_MISMATCH 6  /* replacement file not understood */
#define PPSD_SHM_REASON_BUSY 7             /* no consistent read in bounded tries */
#define PPSD_SHM_REASON_CHECKSUM 8         /* payload checksum mismatch */
#define PPSD_SHM_REASON_CLOCK_NAMESPACE 9  /* our CLOCK_MONOTONIC is not ppsd's */
#define PPSD_SHM_REASON_LEAP_UNKNOWN 10    /* leap second state unknown */
#define PPSD_SHM_REASON_INCONSISTENT 11    /* record contradicts itself */
#define PPSD_SHM_REASON_CLOCK_UNREADABLE 12 /* CLOCK_REALTIME read failed */
#define PPSD_SHM_REASON_FILE_SHRUNK 13     /* file truncated under the mapping (guard) */

/* Opaque reader handle. */
typedef struct ppsd_shm ppsd_shm;

/* The answer to "may I sign now?". 24 bytes. */
typedef struct ppsd_shm_verdict {
    int32_t may_sign;        /* 1: sign; 0: do not */
    uint32_t state;          /* PPSD_SHM_SYNC_* */
    uint32_t leap;           /* PPSD_SHM_LEAP_* */
    uint32_t reason;         /* PPSD_SHM_REASON_* */
    uint64_t error_bound_ns; /* bound on |CLOCK_REALTIME - UTC|; UINT64_MAX if unread */
} ppsd_shm_verdict;

/* CLOCK_REALTIME now with the verdict that applies to it. 40 bytes. */
typedef struct ppsd_shm_stamp {
    int64_t realtime_sec;
    uint32_t realtime_nsec;
    uint32_t reserved;       /* 0 */
    ppsd_shm_verdict verdict;
} ppsd_shm_stamp;

/*
 * Open the record at `path` (read-only, validated, mapped PROT_READ).
 * Returns a handle, or NULL with *err = PPSD_SHM_E_* and a one-line message
 * naming the path written to errbuf (truncated, NUL-terminated).
 * err and errbuf may be NULL.
 */
ppsd_shm *ppsd_shm_open(const char *path, int *err, char *errbuf, size_t errbuf_len);

/*
 * May the caller sign now? Fills *out; returns PPSD_SHM_OK, or a negative
 * code (then *out, if not NULL, holds a refusal). Follows the daemon across
 * restarts: a replaced file is reopened automatically.
 */
int ppsd_shm_check(ppsd_shm *shm, ppsd_shm_verdict *out);

/*
 * CLOCK_REALTIME now and the verdict that applies to it; returns as
 * ppsd_shm_check. Sign with the time only if out->verdict.may_sign.
 */
int ppsd_shm_timestamp(ppsd_shm *shm, ppsd_shm_stamp *out);

/* Close a handle (NULL is ignored). */
void ppsd_shm_close(ppsd_shm *shm);

/* Static description of a PPSD_SHM_E_* code. Never NULL. */
const char *ppsd_shm_strerror(int code);

/* Static description of a PPSD_SHM_REASON_* code. Never NULL. */
const char *ppsd_shm_reason_str(uint32_t reason);

/*
 * Opt-in, process-wide, idempotent: install a SIGBUS handler so that a record
 * file truncated under a reader's mapping makes its checks refuse with
 * PPSD_SHM_REASON_FILE_SHRUNK instead of killing the process. Faults outside
 * this library's mappings go to the previously installed handler (or the
 * default action). Call once at startup, after any runtime that installs its
 * own SIGBUS handler. Returns PPSD_SHM_OK or PPSD_SHM_E_IO.
 */
int ppsd_shm_install_sigbus_guard(void);

/* The layout version the library reads; compare with PPSD_SHM_LAYOUT_VERSION. */
uint32_t ppsd_shm_layout_version(void);

#ifdef __cplusplus
}
#endif

#endif /* PPSD_SHM_H */
