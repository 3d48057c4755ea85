"""ppsd_shm: may this time-stamp signer sign now? Python binding (ctypes) of libppsd_shm.

ppsd publishes the trust state of CLOCK_REALTIME in a shared-memory record
(default /run/ppsd/state). This module loads the C library and answers, per call,
whether a signer may issue a time-stamp now, with which error bound, and if not, why.

    from ppsd_shm import Reader
    with Reader() as shm:
        stamp = shm.timestamp()
        if stamp.verdict.may_sign:
            sign(stamp.realtime_sec, stamp.realtime_nsec, stamp.verdict.error_bound_ns)
        else:
            log.warning("not signing: %s", stamp.verdict.reason_text)

The library is found through $PPSD_SHM_LIB (a path), then the system search path
(libppsd_shm.so). A Reader must not be used by two threads at once. This module
never reads the record itself: the layout lives in the library (see LAYOUT.md).
"""

import ctypes
import ctypes.util
import os
from typing import NamedTuple, Optional

__all__ = ["Reader", "Verdict", "Stamp", "ShmError", "load_library", "install_sigbus_guard",
           "DEFAULT_PATH",
           "SYNC_STATES", "LEAP_STATES", "REASONS"]

DEFAULT_PATH = "/run/ppsd/state"

SYNC_STATES = {0: "UNKNOWN", 1: "INSYNC", 2: "SOON_OUT_OF_SYNC", 3: "OUT_OF_SYNC"}
LEAP_STATES = {0: "UNKNOWN", 1: "NONE", 2: "POSITIVE", 3: "NEGATIVE"}
REASONS = {
    0: None, 1: "EXPIRED", 2: "OUT_OF_SYNC", 3: "UNKNOWN", 4: "IN_LEAP_WINDOW",
    5: "WRITER_GONE", 6: "LAYOUT_MISMATCH", 7: "BUSY", 8: "CHECKSUM",
    9: "CLOCK_NAMESPACE", 10: "LEAP_UNKNOWN", 11: "INCONSISTENT", 12: "CLOCK_UNREADABLE",
    13: "FILE_SHRUNK",
}
ERRORS = {
    -1: "INVALID_ARGUMENT", -2: "NOT_FOUND", -3: "IO", -4: "NOT_REGULAR_FILE",
    -5: "WRITABLE_BY_OTHERS", -6: "TOO_SMALL", -7: "BAD_MAGIC", -8: "UNSUPPORTED_VERSION",
    -9: "SIZE_MISMATCH", -10: "PANIC",
}
LAYOUT_VERSION = 1


class _Verdict(ctypes.Structure):
    _fields_ = [("may_sign", ctypes.c_int32), ("state", ctypes.c_uint32),
                ("leap", ctypes.c_uint32), ("reason", ctypes.c_uint32),
                ("error_bound_ns", ctypes.c_uint64)]


class _Stamp(ctypes.Structure):
    _fields_ = [("realtime_sec", ctypes.c_int64), ("realtime_nsec", ctypes.c_uint32),
                ("reserved", ctypes.c_uint32), ("verdict", _Verdict)]


class Verdict(NamedTuple):
    """The answer to "may I sign now?"; reason is None exactly when may_sign is True."""
    may_sign: bool
    state: str
    leap: str
    error_bound_ns: int
    reason: Optional[str]
    reason_text: str


class Stamp(NamedTuple):
    """CLOCK_REALTIME now with the verdict that applies to it."""
    realtime_sec: int
    realtime_nsec: int
    verdict: Verdict


class ShmError(OSError):
    """Opening or reading the record failed. `code` is the PPSD_SHM_E_* value, `name` its
    name (e.g. "NOT_FOUND"); the message names the path."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.name = ERRORS.get(code, "UNKNOWN_ERROR")


_lib = None


def load_library(path=None):
    """Loads libppsd_shm (once) from `path`, $PPSD_SHM_LIB, or the system search path."""
    global _lib
    if _lib is not None and path is None:
        return _lib
    candidate = path or os.environ.get("PPSD_SHM_LIB") or ctypes.util.find_library("ppsd_shm")
    if not candidate:
        candidate = "libppsd_shm.so"
    lib = ctypes.CDLL(candidate)
    lib.ppsd_shm_open.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_int),
                                  ctypes.c_char_p, ctypes.c_size_t]
    lib.ppsd_shm_open.restype = ctypes.c_void_p
    lib.ppsd_shm_check.argtypes = [ctypes.c_void_p, ctypes.POINTER(_Verdict)]
    lib.ppsd_shm_check.restype = ctypes.c_int
    lib.ppsd_shm_timestamp.argtypes = [ctypes.c_void_p, ctypes.POINTER(_Stamp)]
    lib.ppsd_shm_timestamp.restype = ctypes.c_int
    lib.ppsd_shm_close.argtypes = [ctypes.c_void_p]
    lib.ppsd_shm_close.restype = None
    lib.ppsd_shm_strerror.argtypes = [ctypes.c_int]
    lib.ppsd_shm_strerror.restype = ctypes.c_char_p
    lib.ppsd_shm_reason_str.argtypes = [ctypes.c_uint32]
    lib.ppsd_shm_reason_str.restype = ctypes.c_char_p
    lib.ppsd_shm_install_sigbus_guard.argtypes = []
    lib.ppsd_shm_install_sigbus_guard.restype = ctypes.c_int
    lib.ppsd_shm_layout_version.argtypes = []
    lib.ppsd_shm_layout_version.restype = ctypes.c_uint32
    version = lib.ppsd_shm_layout_version()
    if version != LAYOUT_VERSION:
        raise ShmError(-8, f"{candidate}: library reads layout {version}, "
                           f"this module expects {LAYOUT_VERSION}")
    if path is None:
        _lib = lib
    return lib


def install_sigbus_guard():
    """Opt-in, process-wide: a record file truncated under a reader's mapping then makes checks
    refuse with reason FILE_SHRUNK instead of killing the interpreter with SIGBUS. Call once,
    after enabling faulthandler if you use it (other SIGBUS faults are passed on to it)."""
    lib = load_library()
    rc = lib.ppsd_shm_install_sigbus_guard()
    if rc != 0:
        raise ShmError(rc, f"ppsd_shm_install_sigbus_guard: {lib.ppsd_shm_strerror(rc).decode()}")


def _verdict(lib, raw):
    return Verdict(
        may_sign=raw.may_sign == 1,
        state=SYNC_STATES.get(raw.state, "UNKNOWN"),
        leap=LEAP_STATES.get(raw.leap, "UNKNOWN"),
        error_bound_ns=raw.error_bound_ns,
        reason=REASONS.get(raw.reason, "INCONSISTENT") if raw.may_sign != 1 else None,
        reason_text=lib.ppsd_shm_reason_str(raw.reason).decode(),
    )


class Reader:
    """A read-only view of the record ppsd publishes. Raises ShmError if it cannot be opened."""

    def __init__(self, path=DEFAULT_PATH, lib=None):
        self._lib = lib or load_library()
        self._handle = None
        err = ctypes.c_int(0)
        buf = ctypes.create_string_buffer(512)
        handle = self._lib.ppsd_shm_open(os.fsencode(path), ctypes.byref(err), buf, len(buf))
        if not handle:
            raise ShmError(err.value, buf.value.decode(errors="replace"))
        self._handle = handle
        self.path = path

    def check(self):
        """May I sign now? Returns a Verdict."""
        raw = _Verdict()
        rc = self._lib.ppsd_shm_check(self._live(), ctypes.byref(raw))
        if rc != 0:
            raise ShmError(rc, f"{self.path}: ppsd_shm_check: "
                               f"{self._lib.ppsd_shm_strerror(rc).decode()}")
        return _verdict(self._lib, raw)

    def timestamp(self):
        """CLOCK_REALTIME now with its verdict. Returns a Stamp."""
        raw = _Stamp()
        rc = self._lib.ppsd_shm_timestamp(self._live(), ctypes.byref(raw))
        if rc != 0:
            raise ShmError(rc, f"{self.path}: ppsd_shm_timestamp: "
                               f"{self._lib.ppsd_shm_strerror(rc).decode()}")
        return Stamp(raw.realtime_sec, raw.realtime_nsec, _verdict(self._lib, raw.verdict))

    def close(self):
        """Unmaps the record. Idempotent."""
        if self._handle:
            self._lib.ppsd_shm_close(self._handle)
            self._handle = None

    def _live(self):
        if not self._handle:
            raise ShmError(-1, f"{self.path}: reader is closed")
        return self._handle

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()
