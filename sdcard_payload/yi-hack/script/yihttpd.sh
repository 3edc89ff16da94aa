#!/bin/sh
# yihttpd.sh start|stop|status|restart
#
# Replaces the firmware's busybox httpd with yihttpd on HTTPD_PORT of
# system.conf, and keeps it running: a watchdog restarts it, with a growing
# pause, when it dies. Run from yi-hack/startup.sh at boot.
#
# MQTT: with YIHTTPD_MQTT=yes in mqttv4.conf (the page's "MQTT served by
# yihttpd"), yihttpd's bridge replaces the firmware's MQTT programs: start
# stops mqttv4, mqtt-config and mqtt_set_config.sh by pid, drops the
# mqtt_advertise lines from crond's table, and runs the bridge under its own
# watchdog. With YIHTTPD_MQTT=no (the default) start gives them back: the
# bridge stops, and what it replaced is started again by the firmware's own
# scripts.
#
# Plain POSIX sh (busybox ash, dash). Every path can be overridden from the
# environment, so a test can point the script at a throw-away SD root:
#   YIHTTPD_SD_ROOT    the SD root (default: two folders above this script)
#   YIHTTPD_PYTHON     the interpreter (default: the camera's own,
#                      yi-hack/bin/python3, which is MicroPython 1.26.1 on
#                      yi-hack-Allwinner-v2; else yi-hack/bin/micropython;
#                      else micropython, else python3 on PATH)
#   YIHTTPD_HEAP       MicroPython heap size (default 512K)
#   YIHTTPD_ARGS       extra server options (default --quiet)
#   YIHTTPD_LOG        log file (default /tmp/yihttpd.log)
#   YIHTTPD_RUN_DIR    where the pid files go (default /tmp)
#   YIHTTPD_PROC       the proc file system (default /proc)
#   YIHTTPD_MQTT_LOG   the MQTT bridge's log (default /tmp/yihttpd-mqtt.log)
#   YIHTTPD_MQTT_ARGS  extra bridge options (default none)
#   YIHTTPD_CRONTAB    crond's table (default /var/spool/cron/crontabs/root)
#   YIHTTPD_BACKOFF_MIN, YIHTTPD_BACKOFF_MAX   restart pauses in seconds

SCRIPT_DIR=$(cd "$(dirname "$0")" && pwd)
SD_ROOT=${YIHTTPD_SD_ROOT:-$(cd "$SCRIPT_DIR/../.." && pwd)}
YI_HACK=$SD_ROOT/yi-hack
ETC=$YI_HACK/etc
DEFAULTS=$YI_HACK/yihttpd-defaults
HEAP=${YIHTTPD_HEAP:-512K}
SERVER_ARGS=${YIHTTPD_ARGS:---quiet}
LOG=${YIHTTPD_LOG:-/tmp/yihttpd.log}
RUN_DIR=${YIHTTPD_RUN_DIR:-/tmp}
PROC=${YIHTTPD_PROC:-/proc}
WATCHDOG_PID=$RUN_DIR/yihttpd-watchdog.pid
SERVER_PID=$RUN_DIR/yihttpd.pid
MQTT_LOG=${YIHTTPD_MQTT_LOG:-/tmp/yihttpd-mqtt.log}
MQTT_ARGS=${YIHTTPD_MQTT_ARGS:-}
MQTT_WATCHDOG_PID=$RUN_DIR/yihttpd-mqtt-watchdog.pid
MQTT_PID=$RUN_DIR/yihttpd-mqtt.pid      # where service.sh?name=mqtt looks (the server's --tmp-dir)
MQTT_REPLACED=$RUN_DIR/yihttpd-mqtt-replaced   # the firmware's MQTT was stopped for the bridge
CRONTAB=${YIHTTPD_CRONTAB:-/var/spool/cron/crontabs/root}
FIRMWARE_SERVICE=$YI_HACK/script/service.sh
ADVERTISE_STARTUP=$YI_HACK/script/mqtt_advertise/startup.sh

DEFAULT_PORT=8080           # the firmware's own default for HTTPD_PORT
BACKOFF_MIN=${YIHTTPD_BACKOFF_MIN:-1}    # first pause before a restart
BACKOFF_MAX=${YIHTTPD_BACKOFF_MAX:-60}   # pauses double up to this
STABLE_SECONDS=60           # a run this long resets the pause to BACKOFF_MIN
STOP_WAIT=50                # tenths of a second a process gets to end on TERM
LOG_MAX_BYTES=262144        # /tmp is RAM: the log is emptied past this at a restart

# The firmware keeps its interpreter's libraries (libffi.so) in yi-hack/lib.
LD_LIBRARY_PATH=$YI_HACK/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export LD_LIBRARY_PATH

say() {
    echo "yihttpd.sh: $*"
}

# The first KEY=VALUE of system.conf (or of the conf file given second), as the server reads it.
conf_value() {
    sed -n "s/^[[:space:]]*$1[[:space:]]*=//p" "$ETC/${2:-system.conf}" 2>/dev/null | head -n 1 | tr -d '\r'
}

httpd_port() {
    port=$(conf_value HTTPD_PORT)
    case $port in
        ''|*[!0-9]*) echo "$DEFAULT_PORT" ;;
        *) echo "$port" ;;
    esac
}

# Copies a default conf into etc/ only where the card has none.
install_default_confs() {
    [ -d "$DEFAULTS" ] || return 0
    mkdir -p "$ETC"
    for file in "$DEFAULTS"/*; do
        [ -f "$file" ] || continue
        name=${file##*/}
        if [ ! -e "$ETC/$name" ]; then
            cp "$file" "$ETC/$name" && say "installed default $name"
        fi
    done
}

# Adds an empty KEY= line to system.conf when the card's own (older) file has
# none, so that the page shows the setting; nothing else in the file changes.
add_missing_key() {
    [ -f "$ETC/system.conf" ] || return 0
    grep -q "^[[:space:]]*$1[[:space:]]*=" "$ETC/system.conf" && return 0
    [ -n "$(tail -c 1 "$ETC/system.conf")" ] && echo >> "$ETC/system.conf"
    echo "$1=" >> "$ETC/system.conf" && say "added $1= to system.conf"
}

find_python() {
    if [ -n "$YIHTTPD_PYTHON" ]; then
        echo "$YIHTTPD_PYTHON"
        return
    fi
    for python in "$YI_HACK/bin/python3" "$YI_HACK/bin/micropython"; do
        if [ -x "$python" ]; then
            echo "$python"
            return
        fi
    done
    command -v micropython || command -v python3
}

# True when pid names a live process whose command line mentions yihttpd,
# so a stale pid file never makes us signal a stranger.
is_ours() {
    [ -n "$1" ] && tr '\0' ' ' 2>/dev/null < "$PROC/$1/cmdline" | grep -q yihttpd
}

# True while pid runs (a zombie waiting for its parent no longer does).
is_alive() {
    state=$(sed 's/.*) \(.\).*/\1/' 2>/dev/null < "$PROC/$1/stat")
    [ -n "$state" ] && [ "$state" != Z ]
}

read_pid() {
    [ -r "$1" ] && cat "$1"
}

# Sends TERM, waits STOP_WAIT tenths of a second, then KILL.
end_process() {
    kill "$1" 2>/dev/null || return 0
    tries=0
    while is_alive "$1" && [ "$tries" -lt "$STOP_WAIT" ]; do
        sleep 0.1
        tries=$((tries + 1))
    done
    is_alive "$1" && kill -9 "$1" 2>/dev/null
    return 0
}

# Pids of busybox httpd processes listening on port $1 (httpd -p [IP:]PORT,
# default 80). Other httpd instances and yihttpd itself do not match.
httpd_pids_on_port() {
    wanted=$1
    for dir in "$PROC"/[0-9]*; do
        args=$(tr '\0' ' ' 2>/dev/null < "$dir/cmdline") || continue
        set -f      # split the command line into words, but expand no * in it
        # shellcheck disable=SC2086
        set -- $args
        set +f
        [ $# -gt 0 ] || continue
        case ${1##*/} in
            httpd) shift ;;
            busybox) [ "$2" = httpd ] || continue; shift 2 ;;
            *) continue ;;
        esac
        listen=80
        while [ $# -gt 0 ]; do
            case $1 in
                -p) listen=${2:-}; [ $# -gt 1 ] && shift ;;
                -p*) listen=${1#-p} ;;
            esac
            shift
        done
        [ "${listen##*:}" = "$wanted" ] && echo "${dir##*/}"
    done
}

stop_firmware_httpd() {
    for pid in $(httpd_pids_on_port "$1"); do
        say "stopping the firmware's httpd (pid $pid) on port $1"
        end_process "$pid"
    done
}

trim_log() {
    if [ -f "$1" ] && [ "$(wc -c < "$1")" -gt "$LOG_MAX_BYTES" ]; then
        : > "$1"
    fi
}

# watchdog NAME PID_FILE LOG BEFORE PYTHON RUNTIME_ARGS ARGS...: runs the
# interpreter with ARGS, and again after it dies, until TERM; the command
# BEFORE runs before each start. Runs in the background.
watchdog() {
    name=$1
    pid_file=$2
    log=$3
    before=$4
    python=$5
    runtime_args=$6
    shift 6
    child=
    sleeper=
    stopping=
    trap 'stopping=yes; kill $child $sleeper 2>/dev/null' TERM INT
    trap '' HUP
    # MicroPython also searches the working directory first: make it ours.
    cd "$YI_HACK" || exit 1
    delay=$BACKOFF_MIN
    while [ -z "$stopping" ]; do
        trim_log "$log"
        $before
        started=$(date +%s)
        # shellcheck disable=SC2086  # runtime_args is a word list
        MICROPYPATH=$YI_HACK PYTHONPATH=$YI_HACK PYTHONDONTWRITEBYTECODE=1 \
            "$python" $runtime_args "$@" < /dev/null &
        child=$!
        echo "$child" > "$pid_file"
        wait "$child"
        code=$?
        [ -n "$stopping" ] && break
        ran=$(($(date +%s) - started))
        [ "$ran" -ge "$STABLE_SECONDS" ] && delay=$BACKOFF_MIN
        say "$name ended (status $code) after ${ran}s; restarting in ${delay}s"
        sleep "$delay" &
        sleeper=$!
        wait "$sleeper"
        sleeper=
        delay=$((delay * 2))
        [ "$delay" -gt "$BACKOFF_MAX" ] && delay=$BACKOFF_MAX
    done
    [ -n "$child" ] && wait "$child" 2>/dev/null
    rm -f "$pid_file"
}

# Starts a watchdog in the background, its output appended to LOG.
# Redirected by exec inside the subshell: a redirection on the call itself
# makes busybox ash keep copies of the caller's stdout open in the watchdog.
start_watchdog() {
    watchdog_pid_file=$1
    log=$4
    shift
    (
        exec >> "$log" 2>&1 < /dev/null
        watchdog "$@"
    ) &
    echo $! > "$watchdog_pid_file"
}

# --- MQTT: the firmware's programs or yihttpd's bridge ----------------------

# Pids of processes with a word whose last part is NAME in their command line
# (and the text ALSO, when given): the firmware's MQTT programs, found as its
# service.sh finds them, without grep finding itself.
pids_of() {
    for dir in "$PROC"/[0-9]*; do
        args=$(tr '\0' ' ' 2>/dev/null < "$dir/cmdline") || continue
        case " $args" in
            *"/$1 "*|*" $1 "*) ;;
            *) continue ;;
        esac
        [ -z "$2" ] || case $args in *"$2"*) ;; *) continue ;; esac
        echo "${dir##*/}"
    done
}

# YIHTTPD_MQTT of mqttv4.conf: yes when yihttpd's bridge serves MQTT. The key
# is added (no) where the card lacks it, as the firmware's check_conf.sh adds
# its own, so that the page can set it.
mqtt_choice() {
    if [ -f "$ETC/mqttv4.conf" ] && ! grep -q '^YIHTTPD_MQTT=' "$ETC/mqttv4.conf"; then
        [ -z "$(tail -c 1 "$ETC/mqttv4.conf")" ] || echo >> "$ETC/mqttv4.conf"
        echo 'YIHTTPD_MQTT=no' >> "$ETC/mqttv4.conf"
    fi
    conf_value YIHTTPD_MQTT mqttv4.conf
}

# crond reads its table again when cron.update names the user (as crontab -e does).
reload_crond() {
    echo root >> "${CRONTAB%/*}/cron.update"
}

stop_firmware_mqtt() {
    for pid in $(pids_of mqttv4) $(pids_of mqtt-config) $(pids_of mqtt_set_config.sh) \
               $(pids_of mqtt-sub /+/set); do
        say "stopping the firmware's MQTT program (pid $pid)"
        end_process "$pid"
    done
    if [ -f "$CRONTAB" ] && grep -q '/script/mqtt_advertise/' "$CRONTAB"; then
        grep -v '/script/mqtt_advertise/' "$CRONTAB" > "$CRONTAB.yihttpd"
        cat "$CRONTAB.yihttpd" > "$CRONTAB"
        rm -f "$CRONTAB.yihttpd"
        reload_crond
        say "dropped the mqtt_advertise lines from $CRONTAB"
    fi
    : > "$MQTT_REPLACED"
}

# What start_mqtt stopped, started again the firmware's way (system.sh's steps,
# each script run as system.sh runs it, by its own #! line).
restore_firmware_mqtt() {
    [ -f "$MQTT_REPLACED" ] || return 0
    rm -f "$MQTT_REPLACED"
    say "giving MQTT back to the firmware's programs"
    # Their output to the bridge's log: the programs they leave running must not hold ours.
    "$FIRMWARE_SERVICE" mqtt start >> "$MQTT_LOG" 2>&1 < /dev/null
    if [ "$(conf_value MQTT)" = yes ]; then
        "$FIRMWARE_SERVICE" mqtt-config start >> "$MQTT_LOG" 2>&1 < /dev/null
    fi
    if [ -f "$ADVERTISE_STARTUP" ]; then
        "$ADVERTISE_STARTUP" >> "$MQTT_LOG" 2>&1 < /dev/null
        reload_crond
    fi
}

# stop_watched WATCHDOG_PID_FILE PID_FILE: a watchdog, then what it ran (if its watchdog was killed).
stop_watched() {
    for file in "$1" "$2"; do
        pid=$(read_pid "$file")
        is_ours "$pid" && end_process "$pid"
    done
    rm -f "$1" "$2"
}

stop_mqtt_bridge() {
    stop_watched "$MQTT_WATCHDOG_PID" "$MQTT_PID"
}

# Runs the MQTT side the owner chose.
start_mqtt() {
    python=$1
    runtime_args=$2
    if [ "$(mqtt_choice)" != yes ]; then
        stop_mqtt_bridge
        restore_firmware_mqtt
        return 0
    fi
    is_ours "$(read_pid "$MQTT_WATCHDOG_PID")" && return 0
    stop_firmware_mqtt
    # shellcheck disable=SC2086  # MQTT_ARGS is a word list
    start_watchdog "$MQTT_WATCHDOG_PID" yihttpd.mqtt "$MQTT_PID" "$MQTT_LOG" stop_firmware_mqtt \
        "$python" "$runtime_args" -m yihttpd.mqtt --root "$SD_ROOT" --tmp-dir "$RUN_DIR" $MQTT_ARGS
    say "MQTT served by yihttpd's bridge (log $MQTT_LOG)"
}

start() {
    pid=$(read_pid "$WATCHDOG_PID")
    if is_ours "$pid"; then
        say "already running (watchdog pid $pid)"
        return 0
    fi
    # A server whose watchdog was killed would hold the port: end it first.
    pid=$(read_pid "$SERVER_PID")
    is_ours "$pid" && end_process "$pid"
    install_default_confs
    # More names the camera is reached by, which the server reads from system.conf
    # (README "Security"): the page's Settings, Access.
    add_missing_key HTTPD_ALLOW_HOST
    if [ "$(conf_value HTTPD)" != yes ]; then
        say "HTTPD is not yes in $ETC/system.conf: the web server stays off"
        return 0
    fi
    python=$(find_python)
    if [ -z "$python" ]; then
        say "no interpreter: no yi-hack/bin/python3, micropython or python3; set YIHTTPD_PYTHON"
        return 1
    fi
    if ! implementation=$("$python" -c 'import sys; print(sys.implementation.name)' 2>&1); then
        say "$python does not run: $implementation"
        return 1
    fi
    if [ "$implementation" = micropython ]; then
        runtime_args="-X heapsize=$HEAP"
    elif [ -f "$YI_HACK/yihttpd/__init__.py" ]; then
        runtime_args=
    else
        say "this is the .mpy payload: it needs MicroPython, not $python"
        return 1
    fi
    # Event times are shown in TIMEZONE, as the firmware's env.sh sets TZ.
    timezone=$(conf_value TIMEZONE)
    if [ -n "$timezone" ]; then
        TZ=$timezone
        export TZ
    fi
    port=$(httpd_port)
    mkdir -p "$RUN_DIR"
    # shellcheck disable=SC2086  # SERVER_ARGS is a word list
    start_watchdog "$WATCHDOG_PID" yihttpd "$SERVER_PID" "$LOG" "stop_firmware_httpd $port" \
        "$python" "$runtime_args" -m yihttpd --root "$SD_ROOT" --port "$port" --tmp-dir "$RUN_DIR" $SERVER_ARGS
    say "started on port $port with $python (log $LOG)"
    start_mqtt "$python" "$runtime_args"
}

stop() {
    stop_watched "$WATCHDOG_PID" "$SERVER_PID"
    stop_mqtt_bridge
    say "stopped"
}

mqtt_status() {
    bridge=$(read_pid "$MQTT_PID")
    if is_ours "$bridge"; then
        say "MQTT: yihttpd's bridge (pid $bridge)"
    elif [ -n "$(pids_of mqttv4)" ]; then
        say "MQTT: the firmware's mqttv4 (pid $(pids_of mqttv4 | head -n 1))"
    else
        say "MQTT: not running"
    fi
}

status() {
    pid=$(read_pid "$WATCHDOG_PID")
    if ! is_ours "$pid"; then
        say "not running"
        return 3
    fi
    server=$(read_pid "$SERVER_PID")
    if is_ours "$server"; then
        say "running on port $(httpd_port) (server pid $server, watchdog pid $pid)"
    else
        say "watchdog running (pid $pid), server restarting"
    fi
    mqtt_status
}

case $1 in
    start) start ;;
    stop) stop ;;
    restart) stop; start ;;
    status) status ;;
    *) echo "usage: $0 start|stop|status|restart" >&2; exit 2 ;;
esac
