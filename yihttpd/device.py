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
MEMINFO_HEAD = 512   # bytes of /proc/meminfo read: MemTotal, MemFree, MemAvailable, Buffers, Cached come first
READ_PIECE = 512    # bytes a /proc or /sys file is read at a time: MicroPython's text files
                    # read their lines a character per system call (meminfo: 2.6 ms a time)
FIRST_LINE_MAX = 256   # bytes read of a file whose first line is wanted (a version, a count)
LOCAL_HOST = '/32 host LOCAL'   # fib_trie's mark of an address of this host

_piece = bytearray(READ_PIECE)   # the one buffer files are read into: the loop is single-threaded


def read_head(path, size=FIRST_LINE_MAX):
    """The first size bytes of a small /proc, /sys or vendor file, or None. (Bytes: on
    MicroPython each find or slice of a str counts its UTF-8 characters from the start.)"""
    try:
        with open(path, 'rb') as f:
            return f.read(size)
    except OSError:
        return None


def read_lines(path):
    """A /proc or /sys file's lines that are not empty, read a piece at a time into one
    buffer, so nothing but its short lines takes heap (a crowded 256K heap may have no
    block of the file's size)."""
    try:
        with open(path, 'rb') as f:
            rest = b''
            while True:
                n = f.readinto(_piece)
                if not n:
                    break
                lines = (rest + _piece[:n]).split(b'\n')
                rest = lines.pop()
                for line in lines:
                    if line:
                        yield line.decode()
            if rest:
                yield rest.decode()
    except (OSError, UnicodeError):
        return


def read_first_line(path):
    head = read_head(path)
    try:
        return None if head is None else head.partition(b'\n')[0].strip().decode()
    except UnicodeError:
        return None


def hex_to_ip(word):
    """An address as /proc/net/route writes it (little-endian hex) to dotted form."""
    n = int(word, 16)
    return '%d.%d.%d.%d' % (n & 255, (n >> 8) & 255, (n >> 16) & 255, n >> 24)


def ip_to_int(ip):
    a, b, c, d = [int(x) for x in ip.split('.')]
    return a | (b << 8) | (c << 16) | (d << 24)


def default_route():
    """(interface, gateway, [(network, mask)] of that interface) or None."""
    rows = [line.split() for line in read_lines('/proc/net/route')][1:]   # after its title line
    for row in rows:
        if len(row) > 7 and row[1] == '00000000' and row[2] != '00000000':
            iface = row[0]
            networks = [(int(r[1], 16), int(r[7], 16)) for r in rows
                        if r[0] == iface and r[2] == '00000000' and r[1] != '00000000']
            return iface, hex_to_ip(row[2]), networks
    return None


def local_addresses():
    """The host's own IPv4 addresses, from the kernel's routing trie."""
    found = []
    last = None
    for line in read_lines('/proc/net/fib_trie'):   # an address is the '|-- ADDRESS' line
        if line.endswith(LOCAL_HOST):                   # before its 'host LOCAL' one
            if last and last not in found:
                found.append(last)
        elif '|--' in line:
            last = line.partition('|--')[2].strip()
    return found


def addresses():
    """(local_ip, netmask, gateway and mac_addr as status.json names them, the
    interface of the default route or None)."""
    info = {'local_ip': NA, 'netmask': NA, 'gateway': NA, 'mac_addr': NA}
    route = default_route()
    if route is None:
        return info, None
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
    return info, iface


def wlan_strength(iface):
    """The link quality /proc/net/wireless gives the interface, or NA."""
    for line in read_lines('/proc/net/wireless'):
        name, _, rest = line.partition(':')
        if name.strip() == iface and rest.split():
            return rest.split()[1].rstrip('.')
    return NA


def network_info():
    """addresses(), the Wi-Fi strength, and the ESSID as not known (status.py reads it)."""
    info, iface = addresses()
    info['wlan_essid'] = NA
    info['wlan_strength'] = wlan_strength(iface) if iface else NA
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
    head = read_head('/proc/meminfo', MEMINFO_HEAD)
    if not head:
        return NA, NA
    total = meminfo_kb(head, b'MemTotal')
    free = sum(meminfo_kb(head, name) or 0 for name in (b'MemFree', b'Buffers', b'Cached'))
    return (NA if total is None else str(total)), str(free)


def meminfo_kb(head, name):
    """The kB figure of a /proc/meminfo line, or None (found by search: parsing every
    line took MicroPython a millisecond a request)."""
    at = head.find(b'\n' + name + b':')
    if at < 0 and head.startswith(name + b':'):
        at = -1
    elif at < 0:
        return None
    words = head[at + len(name) + 2:head.find(b'\n', at + 1)].split()
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
