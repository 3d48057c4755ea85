# Scenario sys: kernel-guest sys exercises ppsd's kernel layer (src/sys/) on the real kernel:
# PPS_FETCH (timeout 0, with a timeout, timing out), PPS_GETPARAMS/SETPARAMS with offsets the
# kernel must apply, PPS_KC_BIND, adjtimex writes on the guest's own clock read back, the leap
# state machine, ADJ_SETOFFSET steps, and the clock-change timerfd against ppsd's own steps,
# a settimeofday(2) by another process (/bin/settod) and busybox `date -s` (clock_settime).
# Pulses are fired by kernel-guest itself, so no generator runs here. Sourced by /init.
sys_flags=
[ "$(kt_cmdline ntp_pps)" = 1 ] && sys_flags=--ntp-pps
# shellcheck disable=SC2086 # empty or one flag
kernel-guest sys --device /dev/pps0 --settod /bin/settod $sys_flags 2>&1 | kt_forward

# The tools the daemon scenarios will assert with run in the guest: ppsd-shm-check says a
# missing record is unreadable (exit 2).
ppsd-shm-check /run/ppsd-no-such-record >/run/shm-check.out 2>&1
shm_rc=$?
if [ "$shm_rc" = 2 ]; then
	kt_emit "CHECK guest.shm_check PASS exit 2 on a missing record: $(head -n 1 /run/shm-check.out)"
else
	kt_emit "CHECK guest.shm_check FAIL exit $shm_rc on a missing record: $(head -n 1 /run/shm-check.out)"
fi
