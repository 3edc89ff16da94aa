#!/bin/sh
# yihttpd.sh start|stop|status|restart
#
# Replaces the firmware's busybox httpd with yihttpd on HTTPD_PORT of
# system.conf, and keeps it running: a watchdog restarts it, with a growing
# pause, when it dies. Run from yi-hack/startup.sh at boot.
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

# The first KEY=VALUE of system.conf, as the server reads it.
conf_value() {
    sed -n "s/^[[:space:]]*$1[[:space:]]*=//p" "$ETC/system.conf" 2>/dev/null | head -n 1 | tr -d '\r'
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
    if [ -f "$LOG" ] && [ "$(wc -c < "$LOG")" -gt "$LOG_MAX_BYTES" ]; then
        : > "$LOG"
    fi
}

# Runs the server, and again after it dies, until TERM. Runs in the background.
watchdog() {
    python=$1
    runtime_args=$2
    port=$3
    child=
    sleeper=
    stopping=
    trap 'stopping=yes; kill $child $sleeper 2>/dev/null' TERM INT
    trap '' HUP
    # MicroPython also searches the working directory first: make it ours.
    cd "$YI_HACK" || exit 1
    delay=$BACKOFF_MIN
    while [ -z "$stopping" ]; do
        trim_log
        stop_firmware_httpd "$port"
        started=$(date +%s)
        # shellcheck disable=SC2086  # runtime_args and SERVER_ARGS are word lists
        MICROPYPATH=$YI_HACK PYTHONPATH=$YI_HACK PYTHONDONTWRITEBYTECODE=1 \
            "$python" $runtime_args -m yihttpd --root "$SD_ROOT" --port "$port" $SERVER_ARGS \
            < /dev/null &
        child=$!
        echo "$child" > "$SERVER_PID"
        wait "$child"
        code=$?
        [ -n "$stopping" ] && break
        ran=$(($(date +%s) - started))
        [ "$ran" -ge "$STABLE_SECONDS" ] && delay=$BACKOFF_MIN
        say "yihttpd ended (status $code) after ${ran}s; restarting in ${delay}s"
        sleep "$delay" &
        sleeper=$!
        wait "$sleeper"
        sleeper=
        delay=$((delay * 2))
        [ "$delay" -gt "$BACKOFF_MAX" ] && delay=$BACKOFF_MAX
    done
    [ -n "$child" ] && wait "$child" 2>/dev/null
    rm -f "$SERVER_PID"
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
    # Redirected by exec inside the subshell: a redirection on the call itself
    # makes busybox ash keep copies of the caller's stdout open in the watchdog.
    (
        exec >> "$LOG" 2>&1 < /dev/null
        watchdog "$python" "$runtime_args" "$port"
    ) &
    echo $! > "$WATCHDOG_PID"
    say "started on port $port with $python (log $LOG)"
}

stop() {
    pid=$(read_pid "$WATCHDOG_PID")
    is_ours "$pid" && end_process "$pid"
    pid=$(read_pid "$SERVER_PID")
    is_ours "$pid" && end_process "$pid"
    rm -f "$WATCHDOG_PID" "$SERVER_PID"
    say "stopped"
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
}

case $1 in
    start) start ;;
    stop) stop ;;
    restart) stop; start ;;
    status) status ;;
    *) echo "usage: $0 start|stop|status|restart" >&2; exit 2 ;;
esac
