# Scenario leap-file: the leap scenario (scenarios/leap.sh, same checks) with the test
# leap-seconds.list as ppsd's only source of the leap: the SHM reference never announces it.
# ppsd must arm the kernel (STA_INS) from the file during the last day. Sourced by /init (see
# /kt/lib.sh); busybox sh.
LEAP_REFERENCE_WARNS=0
# shellcheck source=tests/kernel/scenarios/leap.sh
. /kt/scenarios/leap.sh
