# Scenario foreign-step: once ppsd has the clock INSYNC, another process steps CLOCK_REALTIME
# (kernel-guest foreign-step: clock_settime, as `date -s` does) and polls ppsd's record through
# the reader library until it says OUT_OF_SYNC, timing it on CLOCK_MONOTONIC: CHECK within
# STEP_MAX_LATENCY_US (issue 13: 1 ms); ppsd's log must hold the foreign_change event. (That
# settimeofday(2) and clock_settime(2) from other processes both reach the clock-change watch
# is the `sys` scenario's `watch.settimeofday` and `watch.clock_settime`.)
# Sourced by /init (see /kt/lib.sh); busybox sh.
STEP_MAX_LATENCY_US=1000

kt_pulse_start --ppm 20 --shm-unit "$KT_SHM_UNIT"
sleep 2
kt_ppsd_config
if kt_ppsd_start && kt_wait_insync foreign_step.insync 150; then
	kernel-guest foreign-step --shm "$KT_SHM" --step-ms 3000 \
		--max-latency-us "$STEP_MAX_LATENCY_US" 2>&1 | kt_forward
	sleep 1
	kt_log_event foreign_step.logged foreign_change "the step was logged" '"what":"step"'
fi
kt_ppsd_stop
kt_pulse_stop
