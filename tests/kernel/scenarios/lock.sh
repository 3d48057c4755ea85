# Scenario lock: `ppsd run` in real mode on the guest's /dev/pps0 and CLOCK_REALTIME, with the
# generator's pulses +20 ppm off the guest's oscillator and its NTP SHM segment numbering the
# seconds. Asserts: a reader may sign (INSYNC) within LOCK_TIMEOUT_S, and after LOCK_SETTLE_S
# more: INSYNC with a bound within the declared accuracy, the kernel frequency within
# LOCK_MAX_FREQ_ERROR_PPB of the injected error, STA_UNSYNC clear, CLOCK_REALTIME within
# LOCK_MAX_OFFSET_NS of the generator's true time at the last 20 pulses, and the reference
# check and first INSYNC logged. Sourced by /init (see /kt/lib.sh); busybox sh.
#
# Tolerances, from measured figures (docs/kernel-test.md), icount guest time: the kernel
# frequency was within 30 ppb of the expected after 30 s, and the clock within 0.2 µs of the
# truth once pps.delay_ns takes out the fixed 8.2 µs capture path (kt_capture_delay_ns);
# realtime guest time: host scheduling adds milliseconds, so only lock itself and gross
# errors are caught.
LOCK_PPM=20
LOCK_TIMEOUT_S=150
LOCK_SETTLE_S=30
if [ "$(kt_cmdline clock)" = realtime ]; then
	LOCK_MAX_FREQ_ERROR_PPB=20000
	LOCK_MAX_OFFSET_NS=1000000
else
	LOCK_MAX_FREQ_ERROR_PPB=200
	LOCK_MAX_OFFSET_NS=2000
fi

kt_pulse_start --ppm "$LOCK_PPM" --shm-unit "$KT_SHM_UNIT"
sleep 2
kt_ppsd_config
if kt_ppsd_start && kt_wait_insync lock.insync_reached "$LOCK_TIMEOUT_S"; then
	sleep "$LOCK_SETTLE_S"
	kernel-guest lock-check --shm "$KT_SHM" --pulse-log /run/pulse.log --ppm "$LOCK_PPM" \
		--max-freq-error-ppb "$LOCK_MAX_FREQ_ERROR_PPB" --max-offset-ns "$LOCK_MAX_OFFSET_NS" \
		2>&1 | kt_forward
	kt_log_event lock.reference_logged reference_agrees "the SHM reference numbered the seconds"
	kt_log_event lock.insync_logged state_changed "INSYNC logged" INSYNC
fi
kt_ppsd_stop
kt_pulse_stop
