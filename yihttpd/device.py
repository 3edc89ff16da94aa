"""What the camera tells of itself, read from /proc, /sys and the vendor's files:
its network (addresses, gateway, MAC, Wi-Fi strength), memory, card space,
serial number, model and the vendor firmware's version. Anything the host
does not have is NA, as the firmware's scripts say. status.json and the
MQTT bridge's info and telemetry both read them here.
"""
import os

from . import checks

NA = 'N/A'
APP_VERSION = '/home/app/.appver'   # the firmware's status.json reads this for home_version
SERIAL_FILE = '/tmp/mmap.info'    # the vendor program's shared info block
SERIAL_OFFSET = 656               # where it keeps the 20-character serial number
SERIAL_LENGTH = 20
MODEL_MAX = 32                    # characters of a model name (yi-hack/model_suffix)
READ_PIECE = 1024   # bytes a /proc or /sys file is read in: MicroPython's text files read their
                    # lines a character per system call (meminfo: 2.6 ms a time, this: 0.1 ms)
LOCAL_HOST = '/32 host LOCAL'   # fib_trie's mark of an address of this host
READ_MOST = 16384   # bytes of such a file read at most (meminfo ~1.5 KiB, a camera's fib_trie less)


def read_text(path):
    """A small /proc, /sys or vendor file's text, read a piece at a time, or None."""
    try:
        pieces = []
        with open(path, 'rb') as f:
            for _ in range(READ_MOST // READ_PIECE):
                piece = f.read(READ_PIECE)
                if not piece:
                    break
                pieces.append(piece)
        return b''.join(pieces).decode()
    except (OSError, UnicodeError):
        return None


def read_lines(path):
    """read_text's lines that are not empty ([] when the file cannot be read)."""
    text = read_text(path)
    return [line for line in text.split('\n') if line] if text else []


def read_first_line(path):
    text = read_text(path)
    return None if text is None else text.partition('\n')[0].strip()


def hex_to_ip(word):
    """An address as /proc/net/route writes it (little-endian hex) to dotted form."""
    n = int(word, 16)
    return '%d.%d.%d.%d' % (n & 255, (n >> 8) & 255, (n >> 16) & 255, n >> 24)


def ip_to_int(ip):
    a, b, c, d = [int(x) for x in ip.split('.')]
    return a | (b << 8) | (c << 16) | (d << 24)


def default_route():
    """(interface, gateway, [(network, mask)] of that interface) or None."""
    rows = [line.split() for line in read_lines('/proc/net/route')[1:]]
    for row in rows:
        if len(row) > 7 and row[1] == '00000000' and row[2] != '00000000':
            iface = row[0]
            networks = [(int(r[1], 16), int(r[7], 16)) for r in rows
                        if r[0] == iface and r[2] == '00000000' and r[1] != '00000000']
            return iface, hex_to_ip(row[2]), networks
    return None


def local_addresses():
    """The host's own IPv4 addresses, from the kernel's routing trie."""
    text = read_text('/proc/net/fib_trie') or ''
    found = []
    at = text.find(LOCAL_HOST)
    while at >= 0:   # each address is the last '|-- ADDRESS' line before a 'host LOCAL' one
        start = text.rfind('|--', 0, at)
        if start >= 0:
            address = text[start + 3:text.find('\n', start)].strip()
            if address not in found:
                found.append(address)
        at = text.find(LOCAL_HOST, at + len(LOCAL_HOST))
    return found


def network_info():
    info = {'local_ip': NA, 'netmask': NA, 'gateway': NA, 'mac_addr': NA,
            'wlan_essid': NA, 'wlan_strength': NA}
    route = default_route()
    if route is None:
        return info
    iface, gateway, networks = route
    info['gateway'] = gateway
    for ip in local_addresses():
        for network, mask in networks:
            if ip_to_int(ip) & mask == network:
                info['local_ip'] = ip
                info['netmask'] = hex_to_ip('%08x' % mask)
    mac = read_first_line('/sys/class/net/%s/address' % iface)
    if mac:
        info['mac_addr'] = mac.lower()
    for line in read_lines('/proc/net/wireless'):
        name, _, rest = line.partition(':')
        if name.strip() == iface and rest.split():
            info['wlan_strength'] = rest.split()[1].rstrip('.')
    return info


def homever(path):
    """The vendor firmware's version, /home/homever (--homever; e.g. 12.0.51.08_202208101411), or ''.

    Read like /proc: the file is the camera's, not the SD card's, and on
    MicroPython a link check lists the whole directory on each request.
    """
    return read_first_line(path) or ''


def home_version(homever_path):
    """status.json's home_version: the firmware's reads /home/app/.appver; else homever."""
    return read_first_line(APP_VERSION) or homever(homever_path) or NA


def memory_info():
    """(total, free) in kB; free counts what the kernel can give back."""
    text = read_text('/proc/meminfo')
    if not text:
        return NA, NA
    total = meminfo_kb(text, 'MemTotal')
    free = sum(meminfo_kb(text, name) or 0 for name in ('MemFree', 'Buffers', 'Cached'))
    return (NA if total is None else str(total)), str(free)


def meminfo_kb(text, name):
    """The kB figure of a /proc/meminfo line, or None (found by search: parsing all its
    lines took MicroPython a millisecond a request)."""
    at = text.find('\n' + name + ':')
    if at < 0 and text.startswith(name + ':'):
        at = -1
    elif at < 0:
        return None
    words = text[at + len(name) + 2:text.find('\n', at + 1)].split()
    return int(words[0]) if words and words[0].isdigit() else None


def free_sd(root):
    """Free space on the SD card as a percentage, e.g. '87%'."""
    try:
        st = os.statvfs(root)
    except OSError:
        return NA
    if not st[2]:
        return NA
    return '%d%%' % (st[4] * 100 // st[2])


def serial_number():
    try:
        with open(SERIAL_FILE, 'rb') as f:
            f.seek(SERIAL_OFFSET)
            raw = f.read(SERIAL_LENGTH)
        text = raw.split(b'\0')[0].decode().strip()
        return text or NA
    except (OSError, UnicodeError):
        return NA


def model_suffix(root):
    """ROOT/yi-hack/model_suffix (e.g. y211ga) when it is a plain model name, else None."""
    model = read_first_line(root + '/yi-hack/model_suffix') or ''
    return model if checks.only(model, checks.NAME_CHARS, MODEL_MAX) else None
