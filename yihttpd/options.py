"""The server's command-line options (python3 -m yihttpd --help lists them)."""
from . import cli, transports
from .server import HEADER_TIMEOUT, IDLE_TIMEOUT, MAX_CONNECTIONS

DEFAULT_ROOT = '/tmp/sd'
DEFAULT_PORT = 8080
MAX_PORT = 65535


OPTIONS = (
    ('--root', str, None, 'SD card root (default %s)' % DEFAULT_ROOT),
    ('--port', int, None, 'port (default: HTTPD_PORT of system.conf, else %d)' % DEFAULT_PORT),
    ('--bind', str, '0.0.0.0', 'address to listen on'),
    ('--demo', cli.FLAG, False, 'serve a throw-away sample SD root'),
    ('--quiet', cli.FLAG, False, 'no log line per request'),
    ('--max-connections', int, MAX_CONNECTIONS, 'open connections at most'),
    ('--header-timeout', float, HEADER_TIMEOUT, 'seconds to send a request head'),
    ('--idle-timeout', float, IDLE_TIMEOUT, 'seconds an idle or non-reading client is kept'),
    ('--allow-host', str, None, 'more names the camera is reached by, comma-separated (*: any)'),
    ('--family', str, None, 'firmware family reported by status.json'),
    ('--ptz', str, None, 'yes or no: override the PTZ detection by model'),
    ('--tmp-dir', str, '/tmp', 'where uploads and temporary files go'),
    ('--hostname-cmd', str, 'hostname NAME', 'applies a new hostname (NAME: the name; run without a shell)'),
    ('--longpoll-timeout', float, None, 'seconds getlastrecordedvideo.sh waits for a video (default 80)'),
    ('--service-script', str, None, 'firmware service script (default ROOT/yi-hack/script/service.sh)'),
    ('--mqtt-events', str, None, "event source for the MQTT bridge (default: the bridge's own)"),
    ('--reboot-cmd', str, None, 'shell command run after reboot.sh answers (default: sync; reboot)'),
    ('--release-url', str, None, 'JSON with the latest firmware tag_name (default: GitHub releases)'),
    ('--download-url', str, None, 'firmware archive URL, {tag} and {model} replaced (default: GitHub)'),
    ('--wget', str, 'wget', 'program that fetches the release info and the archive'),
    ('--upgrade-min-free-mb', int, None, 'free SD space an upgrade needs (default 100)'),
    ('--stats', cli.FLAG, False, 'log the heap high-water mark (MicroPython; for bench/)'),
    ('--grabber', str, None, 'snapshot tool (default ROOT/yi-hack/bin/imggrabber)'),
    ('--homever', str, '/home/homever', 'the vendor firmware version file (camera_settings.sh AI rules)'),
    ('--wlan-carrier', str, '/sys/class/net/wlan0/carrier_changes',
     "the kernel's count of Wi-Fi link changes: status.json reads the ESSID again when it moves"),
    ('--audio-fifo', str, '/tmp/audio_in_fifo', 'the FIFO the camera plays sound from (speak.sh)'),
    ('--no-cgi-fallback', cli.FLAG, False, "never run the firmware's cgi-bin scripts"),
    ('--cgi-timeout', float, None, 'seconds a CGI program may run (default 70)'),
    ('--test-hold-switch', str, None, 'tests only: a conf switch waits to be killed there (staged, switching)'),
) + transports.OPTIONS


def parse(argv):
    """The options of argv, each defaulted; exits with the usage text on a bad one."""
    return cli.parse(argv, OPTIONS, 'yihttpd')
