# Scenario leap: a leap second inserted by the real kernel under ppsd. The guest clock is set
# LEAP_LEAD_S before 2027-01-01T00:00:00Z, which the test's leap-seconds.list
# (/kt/leap-seconds.list, valid hash) announces as a positive leap; the generator labels its
# pulses (and the SHM reference its samples) in UTC across the leap (the inserted second
# shares its POSIX number with 23:59:59, as the kernel's clock shows it). Once ppsd is INSYNC,
# kernel-guest trace samples every 100 ms until 10 s past midnight and checks: the kernel
# went TIME_INS → TIME_OOP → TIME_WAIT, ppsd published leap POSITIVE for that midnight with a
# window over the inserted second, no reader could sign during it, every sample that let a
# reader sign had the true error within the published bound (no false INSYNC), and the clock
# agreed with true UTC after midnight, and the kernel's TAI offset was the list's 37 s before
# the leap (ppsd set it) and 38 s after (the kernel raised it; ppsd left it). Sourced by /init (see /kt/lib.sh); busybox sh.
#
# Here the SHM reference also announces the leap (NTP leap indicator 1 during the last day),
# as a GNSS receiver does, and ppsd arms the kernel from that; the leap file gives the
# published leap state and window. scenarios/leap-file.sh runs this with the leap file as
# ppsd's only source (LEAP_REFERENCE_WARNS=0).
LEAP_AT=1798761600
LEAP_LEAD_S=150
LEAP_REFERENCE_WARNS=${LEAP_REFERENCE_WARNS:-1}

date -s "@$((LEAP_AT - LEAP_LEAD_S))" >/dev/null
kt_emit "NOTE guest clock set to $(date -u '+%Y-%m-%dT%H:%M:%SZ'), leap at @$LEAP_AT"
warn_flag=
[ "$LEAP_REFERENCE_WARNS" = 1 ] && warn_flag=--announce-leap
# shellcheck disable=SC2086 # empty or one flag
kt_pulse_start --ppm 20 --shm-unit "$KT_SHM_UNIT" --leap-insert-at "$LEAP_AT" $warn_flag
sleep 2
kt_ppsd_config '[leap]' 'file = "/kt/leap-seconds.list"'
if kt_ppsd_start && kt_wait_insync leap.insync 110; then
	left=$((LEAP_AT + 10 - $(date +%s)))
	kt_emit "NOTE tracing $left s across the leap"
	kernel-guest trace --mode leap --shm "$KT_SHM" --pulse-log /run/pulse.log \
		--leap-insert-at "$LEAP_AT" --tai-before 37 --every-ms 100 --duration-s "$left" 2>&1 | kt_forward
	kt_log_event leap.scheduled_logged leap_scheduled "the leap was logged as scheduled"
	kt_log_event leap.applied_logged leap_applied "the leap was logged as applied"
fi
kt_ppsd_stop
kt_pulse_stop
