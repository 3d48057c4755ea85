# Scenario pulse-loss: ppsd locked and INSYNC, then the generator stops (pulses and SHM
# reference both, as when a receiver loses its antenna). kernel-guest trace samples ppsd's
# record, adjtimex and the generator's true time every 100 ms and checks: readers may still
# sign (INSYNC or SOON_OUT_OF_SYNC) past the pulse timeout (holdover), then OUT_OF_SYNC once
# the published bound passes the declared accuracy, and while readers could sign the true
# error stayed within the published bound. The declared accuracy and drift bound are small
# so the bound crosses within a minute or so of guest time (cheap under icount).
# Sourced by /init (see /kt/lib.sh); busybox sh.
LOSS_ACCURACY_NS=20000
LOSS_DRIFT_PPB_PER_S=10.0
LOSS_HORIZON_S=10
LOSS_TRACE_S=180

kt_pulse_start --ppm 20 --shm-unit "$KT_SHM_UNIT"
sleep 2
kt_ppsd_config '[trust]' "declared_accuracy_ns = $LOSS_ACCURACY_NS" \
	"drift_bound_ppb_per_s = $LOSS_DRIFT_PPB_PER_S" "holdover_horizon_s = $LOSS_HORIZON_S"
if kt_ppsd_start && kt_wait_insync pulse_loss.insync 150; then
	# Some locked time, so the servo's frequency estimate has settled.
	sleep 20
	kt_pulse_stop
	kt_emit "NOTE generator stopped at uptime $(kt_uptime) s"
	kernel-guest trace --mode pulse-loss --shm "$KT_SHM" --pulse-log /run/pulse.log \
		--every-ms 100 --duration-s "$LOSS_TRACE_S" 2>&1 | kt_forward
	kt_log_event pulse_loss.logged pulse_lost "the loss was logged"
fi
kt_ppsd_stop
