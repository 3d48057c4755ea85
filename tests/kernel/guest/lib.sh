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
	echo "kt: dmesg lines about pps/parport:"
	dmesg | grep -Ei 'pps|parport' | tail -n 20
	kt_emit "END $scenario uptime_s=$(kt_uptime)"
	sync
	poweroff -f
}
