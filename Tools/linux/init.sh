#!/bin/sh
# x86v's Linux test init (make linux): runs as PID 1 from the initramfs, says what it sees,
# runs a fork-and-exec loop and powers off, or with X86V_SHELL=1 on the kernel command line
# starts a shell first. Every line starts with "x86v-init:" so the
# harness (Tools/linux/linux-check.py) can time and check it.
/bin/busybox mount -t proc proc /proc
echo "x86v-init: started"
/bin/busybox --install -s /bin
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
echo "x86v-init: kernel $(uname -r) $(uname -m)"
echo "x86v-init: cpu $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1)"
echo "x86v-init: memory $(sed -n 's/^MemTotal: *//p' /proc/meminfo)"
echo "x86v-init: sum $(seq 1 100 | awk '{ s += $1 } END { print s }')"
echo "x86v-init: files $(ls / | tr '\n' ' ')"
echo "x86v-init: clocksource $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"
N=${FORKS:-1000}
echo "x86v-init: fork-exec loop of $N starting"
i=0
while [ $i -lt $N ]; do
    /bin/true
    i=$((i + 1))
done
echo "x86v-init: fork-exec loop of $i done"
if [ -n "$X86V_SHELL" ]; then
    # `--append "console=ttyS0 X86V_SHELL=1"`: a shell on the console instead of powering off
    # (`poweroff -f` or Ctrl-A x to leave). cttyhack gives it the console as its controlling
    # terminal, so Ctrl-C reaches the foreground job.
    echo "x86v-init: starting a shell (poweroff -f to power off)"
    hostname x86v
    export PS1='\h:\w# ' HOME=/root
    cd /root
    setsid cttyhack sh
    echo "x86v-init: the shell exited"
fi
echo "x86v-init: powering off"
poweroff -f
