"""Tests of the ppsd_shm Python binding, run by shm/tests/python.rs (cargo test), which builds
the library, writes record files into $PPSD_SHM_TEST_DIR and sets $PPSD_SHM_LIB:
insync, outofsync, closed, badmagic (and nothing at 'missing')."""

import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ppsd_shm  # noqa: E402

DIR = os.environ.get("PPSD_SHM_TEST_DIR", "")


def path(name):
    return os.path.join(DIR, name)


class ReaderTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not DIR or not os.environ.get("PPSD_SHM_LIB"):
            raise RuntimeError("run through cargo test (tests/python.rs): "
                               "PPSD_SHM_TEST_DIR and PPSD_SHM_LIB must be set")

    def test_insync_record_may_sign(self):
        with ppsd_shm.Reader(path("insync")) as shm:
            v = shm.check()
            self.assertTrue(v.may_sign)
            self.assertEqual((v.state, v.leap, v.reason), ("INSYNC", "NONE", None))
            self.assertEqual(v.error_bound_ns, 850)
            self.assertEqual(v.reason_text, "may sign")

    def test_timestamp_is_now(self):
        with ppsd_shm.Reader(path("insync")) as shm:
            stamp = shm.timestamp()
        self.assertTrue(stamp.verdict.may_sign)
        self.assertLess(abs(stamp.realtime_sec - time.time()), 5)
        self.assertTrue(0 <= stamp.realtime_nsec < 1_000_000_000)

    def test_out_of_sync_is_refused_with_reason(self):
        with ppsd_shm.Reader(path("outofsync")) as shm:
            v = shm.check()
        self.assertFalse(v.may_sign)
        self.assertEqual((v.state, v.reason), ("OUT_OF_SYNC", "OUT_OF_SYNC"))
        self.assertEqual(v.reason_text, "clock out of sync")

    def test_closed_writer_is_gone(self):
        with ppsd_shm.Reader(path("closed")) as shm:
            v = shm.check()
        self.assertFalse(v.may_sign)
        self.assertEqual(v.reason, "WRITER_GONE")

    def test_missing_file_raises_not_found_naming_the_path(self):
        with self.assertRaises(ppsd_shm.ShmError) as ctx:
            ppsd_shm.Reader(path("missing"))
        self.assertEqual((ctx.exception.code, ctx.exception.name), (-2, "NOT_FOUND"))
        self.assertIn(path("missing") + ": no such file", str(ctx.exception))

    def test_bad_magic_raises(self):
        with self.assertRaises(ppsd_shm.ShmError) as ctx:
            ppsd_shm.Reader(path("badmagic"))
        self.assertEqual(ctx.exception.name, "BAD_MAGIC")

    def test_sigbus_guard_installs_idempotently(self):
        ppsd_shm.install_sigbus_guard()
        ppsd_shm.install_sigbus_guard()
        with ppsd_shm.Reader(path("insync")) as shm:
            self.assertTrue(shm.check().may_sign)

    def test_closed_reader_refuses_use(self):
        shm = ppsd_shm.Reader(path("insync"))
        shm.close()
        shm.close()
        with self.assertRaises(ppsd_shm.ShmError):
            shm.check()


if __name__ == "__main__":
    unittest.main(verbosity=2)
