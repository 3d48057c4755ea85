# Scenario probe: `ppsd probe /dev/pps0 --count 10` on the real pps_parport device while the
# generator fires a +20 ppm pulse train; kernel-guest probe-check then asserts the capability
# line, 10 consecutive sequence numbers, each interval within PROBE_MAX_INTERVAL_ERROR_US of
# the generator's period, and each timestamp within PROBE_MAX_LATENCY_US after its port write.
# Sourced by /init (see /kt/lib.sh); busybox sh.
#
# Tolerances, from measured figures (docs/kernel-test.md):
# - icount guest time (default): stamps land a fixed ~3.8 us after the write; intervals are
#   within 0.5 us of the period, 3.3 us when a guest timer interrupt hits the generator's
#   spin. 15 us catches a train that ignores its +20 ppm (20 us per interval off) as well as
#   a lost, doubled or misattributed pulse.
# - realtime guest time (plain TCG): stamps land 35-230 us after the write, but a busy host
#   deschedules the guest for milliseconds (generator up to 6.6 ms late, one stamp 12 ms after
#   its write seen); these bounds only catch lost, doubled or misattributed pulses.
PROBE_COUNT=10
PROBE_PPM=20
if [ "$(kt_cmdline clock)" = realtime ]; then
	PROBE_MAX_INTERVAL_ERROR_US=50000
	PROBE_MAX_LATENCY_US=50000
else
	PROBE_MAX_INTERVAL_ERROR_US=15
	PROBE_MAX_LATENCY_US=100
fi

kt_pulse_start --ppm "$PROBE_PPM"
ppsd probe /dev/pps0 --count "$PROBE_COUNT" --timeout 3 >/run/probe.out 2>/run/probe.err
probe_rc=$?
kt_pulse_stop
kt_emit_file PROBE /run/probe.out
kt_emit_file PROBE-STDERR /run/probe.err
kt_emit_file PULSE /run/pulse.log
kernel-guest probe-check --probe-out /run/probe.out --pulse-log /run/pulse.log \
	--exit-code "$probe_rc" --count "$PROBE_COUNT" \
	--max-interval-error-us "$PROBE_MAX_INTERVAL_ERROR_US" \
	--max-latency-us "$PROBE_MAX_LATENCY_US" 2>&1 | kt_forward
