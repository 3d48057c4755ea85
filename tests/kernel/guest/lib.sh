# Shell functions of the real-kernel test guest, sourced by /init and by each scenario script
# (tests/kernel/scenarios/NAME.sh, sourced in the same shell, so functions and variables are
# shared). busybox sh; no bashisms.
#
# Results go to the second serial port (/dev/ttyS1), which the host reads as results.log:
# one line per event, `CHECK name PASS|FAIL detail`, `MEASURE name value unit`, `NOTE text`,
# `BOOT ...` first and `END scenario ...` last. Everything is echoed on the console too. These
# functions must never print PASS for something they did not check; the host fails a scenario
# on any FAIL line, on any expected check without a PASS line and on a missing END.

KT_RESULTS=/dev/ttyS1
KT_PULSE_PID=
KT_PPSD_PID=
# ppsd's record, configuration and log (JSON lines on stderr) in the daemon scenarios.
KT_SHM=/run/ppsd/state
KT_PPSD_CONFIG=/run/ppsd.toml
KT_PPSD_LOG=/run/ppsd.log
# The NTP SHM unit the generator writes as the guest's time-of-day reference.
KT_SHM_UNIT=2

# kt_emit TEXT...: one result line to the results port and the console.
kt_emit() {
	printf '%s\n' "$*" >>"$KT_RESULTS"
	printf 'kt: %s\n' "$*"
}

# kt_forward: emits each line of stdin.
kt_forward() {
	while IFS= read -r line; do
		kt_emit "$line"
	done
}

# kt_emit_file PREFIX FILE: emits each line of FILE as `PREFIX line` (raw material for the
# host's logs; the host asserts on CHECK lines only).
kt_emit_file() {
	[ -f "$2" ] || return 0
	while IFS= read -r line; do
		kt_emit "$1 $line"
	done <"$2"
}

# kt_cmdline KEY: the value of ppsd.KEY=VALUE on the kernel command line.
kt_cmdline() {
	# shellcheck disable=SC2013 # words, not lines
	for w in $(cat /proc/cmdline); do
		case $w in
		ppsd."$1"=*) echo "${w#*=}" ;;
		esac
	done
}

# kt_uptime: seconds since the guest kernel started.
kt_uptime() {
	cut -d' ' -f1 /proc/uptime
}

# kt_load_modules: insmod each line of /kt/modules.list (`file.ko params`, in dependency
# order, written by the host), then waits up to 5 s for /dev/pps0.
kt_load_modules() {
	loaded=
	while read -r ko params; do
		[ -n "$ko" ] || continue
		# shellcheck disable=SC2086 # params are separate words on purpose
		if ! out=$(insmod "/kt/modules/$ko" $params 2>&1); then
			kt_emit "CHECK guest.modules FAIL insmod $ko $params: $out"
			return 1
		fi
		loaded="$loaded ${ko%.ko}"
	done </kt/modules.list
	kt_emit "CHECK guest.modules PASS loaded$loaded"
	i=0
	while [ ! -c /dev/pps0 ] && [ $i -lt 50 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	if [ -c /dev/pps0 ]; then
		kt_emit "CHECK guest.pps0 PASS $(cat /sys/class/pps/pps0/name 2>/dev/null) at /dev/pps0"
	else
		kt_emit "CHECK guest.pps0 FAIL no /dev/pps0 5 s after loading the modules"
		return 1
	fi
}

# kt_pulse_start ARGS...: starts the pulse generator (kernel-guest pulse ARGS) in the
# background, logging to /run/pulse.log.
kt_pulse_start() {
	kernel-guest pulse "$@" >/run/pulse.log 2>&1 &
	KT_PULSE_PID=$!
}

# kt_pulse_stop: stops the pulse generator (for the pulse-loss scenario and at the end).
kt_pulse_stop() {
	[ -n "$KT_PULSE_PID" ] || return 0
	kill "$KT_PULSE_PID" 2>/dev/null
	wait "$KT_PULSE_PID" 2>/dev/null
	KT_PULSE_PID=
}

# kt_capture_delay_ns: the emulated "cable and capture" delay between the generator's schedule
# (the true second) and the kernel's stamp under icount: the port write lands 4.4-4.6 us after
# the schedule and pps_parport stamps it 3.8 us later (docs/kernel-test.md), as an operator
# would measure and set pps.delay_ns. Under realtime guest time it varies by milliseconds with
# host load, so it is left at 0 there.
kt_capture_delay_ns() {
	if [ "$(kt_cmdline clock)" = realtime ]; then echo 0; else echo 8200; fi
}

# kt_ppsd_config [TOML...]: writes $KT_PPSD_CONFIG for `ppsd run` in real mode: /dev/pps0
# (pps.delay_ns from kt_capture_delay_ns),
# CLOCK_REALTIME, the generator's NTP SHM segment as the reference (read every second), no
# leap file, record $KT_SHM, JSON log. Each argument is appended as one more line, so a
# scenario adds tables (`[trust]`, `declared_accuracy_ns = 20000`); sections above are
# closed by then, so extra keys must come under their own table header.
kt_ppsd_config() {
	{
		printf '[pps]\ndevice = "/dev/pps0"\ndelay_ns = %s\n' "$(kt_capture_delay_ns)"
		printf '[[reference]]\nkind = "shm"\nunit = %s\ninterval_s = 1\ntimeout_ms = 500\n' "$KT_SHM_UNIT"
		printf '[shm]\npath = "%s"\n' "$KT_SHM"
		printf '[log]\nformat = "json"\nlevel = "info"\n'
		printf '[runtime]\nlock_file = "/run/ppsd/ppsd.lock"\nledger_file = "/run/ppsd/ledger.jsonl"\n'
		for line in "$@"; do printf '%s\n' "$line"; done
	} >"$KT_PPSD_CONFIG"
	grep -q '^\[leap\]' "$KT_PPSD_CONFIG" || printf '[leap]\nfile = ""\n' >>"$KT_PPSD_CONFIG"
}

# kt_ppsd_start: starts `ppsd run --config $KT_PPSD_CONFIG` in the background (log in
# $KT_PPSD_LOG) after checking the configuration; sets KT_PPSD_PID.
kt_ppsd_start() {
	if ! out=$(ppsd check-config "$KT_PPSD_CONFIG" 2>&1); then
		kt_emit "CHECK ppsd.config FAIL $(echo "$out" | head -n 3 | tr '\n' ' ')"
		return 1
	fi
	ppsd run --config "$KT_PPSD_CONFIG" >/run/ppsd.out 2>"$KT_PPSD_LOG" &
	KT_PPSD_PID=$!
	kt_emit "NOTE ppsd started, pid $KT_PPSD_PID, at uptime $(kt_uptime) s"
}

# kt_ppsd_stop: SIGTERM to ppsd (if running) and wait; prints its log on the console.
kt_ppsd_stop() {
	if [ -n "$KT_PPSD_PID" ]; then
		kill "$KT_PPSD_PID" 2>/dev/null
		wait "$KT_PPSD_PID" 2>/dev/null
		KT_PPSD_PID=
	fi
	kt_ppsd_show_log
}

# kt_ppsd_show_log: ppsd's log on the console (which the host prints when a scenario fails).
kt_ppsd_show_log() {
	echo "kt: ---- ppsd log ($KT_PPSD_LOG) ----"
	cat "$KT_PPSD_LOG" 2>/dev/null
	echo "kt: ---- end of ppsd log ----"
}

# kt_wait_insync CHECK TIMEOUT_S: waits until a reader may sign (ppsd-shm-check exit 0),
# polling every 0.5 s of guest time; emits CHECK (PASS with the time taken) and a MEASURE.
kt_wait_insync() {
	t0=$(kt_uptime)
	i=0
	while [ $i -lt $(($2 * 2)) ]; do
		if ppsd-shm-check "$KT_SHM" >/run/shm-check.out 2>&1; then
			t1=$(kt_uptime)
			took=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
			kt_emit "MEASURE $1 $took s"
			kt_emit "CHECK $1 PASS may sign $took s after ppsd started: $(cat /run/shm-check.out)"
			return 0
		fi
		sleep 0.5
		i=$((i + 1))
	done
	kt_emit "CHECK $1 FAIL not INSYNC $2 s after ppsd started: $(cat /run/shm-check.out)"
	ppsd-shm-check --snapshot "$KT_SHM" 2>&1 | sed 's/^/kt: /'
	return 1
}

# kt_log_event CHECK EVENT [WHAT [TEXT]]: checks ppsd's JSON log holds an `"event":"EVENT"`
# record (containing TEXT, if given).
kt_log_event() {
	line=$(grep "\"event\":\"$2\"" "$KT_PPSD_LOG" | grep -F -e "${4:-}" | head -n 1)
	if [ -n "$line" ]; then
		kt_emit "CHECK $1 PASS ${3:-logged}: $line"
	else
		kt_emit "CHECK $1 FAIL no $2 event ${4:+with $4 }in ppsd's log"
	fi
}

# kt_main: what /init runs: boot line, modules, the scenario, END, power off.
kt_main() {
	scenario=$(kt_cmdline scenario)
	stty -F "$KT_RESULTS" raw -echo
	cs=$(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)
	kt_emit "BOOT scenario=$scenario kernel=$(uname -r) uptime_s=$(kt_uptime) clocksource=$cs"
	if kt_load_modules; then
		if [ -f "/kt/scenarios/$scenario.sh" ]; then
			# shellcheck disable=SC1090 # the scenario named on the command line
			. "/kt/scenarios/$scenario.sh"
		else
			kt_emit "CHECK guest.scenario FAIL no scenario script $scenario.sh in the image"
		fi
	fi
	kt_pulse_stop
	[ -z "$KT_PPSD_PID" ] || kt_ppsd_stop
	echo "kt: dmesg lines about pps/parport:"
	dmesg | grep -Ei 'pps|parport' | tail -n 20
	kt_emit "END $scenario uptime_s=$(kt_uptime)"
	sync
	poweroff -f
}
