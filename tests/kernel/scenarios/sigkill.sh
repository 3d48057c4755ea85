# Scenario sigkill: ppsd locked and INSYNC, then `kill -9` (kernel-guest expiry sends it and
# polls the record through the reader library every 1 ms): readers must refuse within
# KILL_MAX_MS (issue 13: 1.5 s; the record's lifetime is trust.lifetime_ms, 1500 by default).
# Then it reads adjtimex right after and KILL_OBSERVE_S later and checks the kernel kept its own
# rule for an abandoned clock: maxerror grows 500 µs/s, STA_UNSYNC only once it reaches 16 s.
# Sourced by /init (see /kt/lib.sh); busybox sh.
KILL_MAX_MS=1500
KILL_OBSERVE_S=20

kt_pulse_start --ppm 20 --shm-unit "$KT_SHM_UNIT"
sleep 2
kt_ppsd_config
if kt_ppsd_start && kt_wait_insync sigkill.insync 150; then
	sleep 5
	kernel-guest expiry --shm "$KT_SHM" --pid "$KT_PPSD_PID" --max-ms "$KILL_MAX_MS" \
		--observe-s "$KILL_OBSERVE_S" 2>&1 | kt_forward
	wait "$KT_PPSD_PID" 2>/dev/null
	KT_PPSD_PID=
	ppsd-shm-check "$KT_SHM" 2>&1 | sed 's/^/NOTE after SIGKILL: ppsd-shm-check: /' | kt_forward
fi
kt_ppsd_show_log
kt_pulse_stop
