"""Input checks: text from a client, a header or a file is taken only when it
is exactly what is expected, the same way everywhere.

str.isdigit() takes other scripts' digits ('²', '٣') that int() then
refuses or reads, so numbers are ASCII digits only, checked here. Strict
UTF-8 is here too: MicroPython's decode takes overlong forms ('%c0%ae' as
'.'), surrogates and code points past U+10FFFF.
"""

DIGITS = '0123456789'
LETTERS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'
NAME_CHARS = LETTERS + DIGITS + '_-'
HEX_DIGITS = DIGITS + 'abcdef'
HOSTNAME_CHARS = LETTERS + DIGITS + '-_.'   # what the firmware's users put in hostnames, '_' too
MAX_HOSTNAME = 63          # one DNS label's length
MAX_DIGITS = 18            # more digits than any bound here: refused before int() reads them
LARGEST = 10 ** MAX_DIGITS - 1   # the largest number() can take
SHOWN_MAX = 40           # characters of a refused value repeated in a message


class Refused(Exception):
    """A value or command that a rule does not take, and why.

    Rules shared by the web server and the MQTT bridge raise it (no HTTP
    below the handlers): a handler answers it with `status`, the bridge
    logs it.
    """
    status = 400
    retry_after = None   # seconds to wait before asking again (a busy refusal's Retry-After)

    def __init__(self, message):
        super().__init__(message)
        self.message = message


def shown(value):
    """A refused value as a message repeats it: 'quoted', printable ASCII, at most SHOWN_MAX.

    Other characters become '?', so that an answer stays plain UTF-8 JSON
    whatever was sent (MicroPython's decode lets invalid UTF-8 through).
    """
    return "'%s'" % ''.join(c if ' ' <= c <= '~' else '?' for c in value[:SHOWN_MAX])


def only(text, chars, longest):
    """text is 1 to longest characters, each one of chars."""
    if not 0 < len(text) <= longest:
        return False
    for c in text:
        if c not in chars:
            return False
    return True


def is_hostname(name):
    """1 to MAX_HOSTNAME of HOSTNAME_CHARS, not starting with '-' (it would read as an option).

    The firmware stores any text; these names are safe in etc/hostname and
    as the `hostname` command's argument. set_configs and load both ask here.
    """
    return only(name, HOSTNAME_CHARS, MAX_HOSTNAME) and name[0] != '-'


HOSTNAME_RULE = "1 to %d letters, digits, '-', '_' or '.', not starting with '-'" % MAX_HOSTNAME


def number(text, lo, hi):
    """The int that text spells in ASCII digits when lo <= it <= hi, else None."""
    if not only(text, DIGITS, MAX_DIGITS):
        return None
    value = int(text)
    return value if lo <= value <= hi else None


def _check_utf8(data):
    """Raise UnicodeError unless data is well-formed UTF-8 (RFC 3629)."""
    i = 0
    n = len(data)
    while i < n:
        c = data[i]
        if c < 0x80:
            i += 1
            continue
        if 0xC2 <= c <= 0xDF:
            need, low, high = 1, 0x80, 0xBF
        elif c == 0xE0:
            need, low, high = 2, 0xA0, 0xBF     # no overlong forms
        elif c == 0xED:
            need, low, high = 2, 0x80, 0x9F     # no surrogates
        elif 0xE1 <= c <= 0xEF:
            need, low, high = 2, 0x80, 0xBF
        elif c == 0xF0:
            need, low, high = 3, 0x90, 0xBF
        elif 0xF1 <= c <= 0xF3:
            need, low, high = 3, 0x80, 0xBF
        elif c == 0xF4:
            need, low, high = 3, 0x80, 0x8F     # nothing past U+10FFFF
        else:
            raise UnicodeError('not UTF-8')
        if i + need >= n:   # cut short
            raise UnicodeError('not UTF-8')
        if not low <= data[i + 1] <= high:
            raise UnicodeError('not UTF-8')
        for k in range(i + 2, i + need + 1):
            if not 0x80 <= data[k] <= 0xBF:
                raise UnicodeError('not UTF-8')
        i += need + 1


def _decode_is_strict():
    try:
        b'\xc0\xae'.decode()   # an overlong '.'
    except UnicodeError:
        return True
    return False


if _decode_is_strict():
    def decode_utf8(data):
        return data.decode()

    def is_utf8(data):
        try:
            data.decode()
            return True
        except UnicodeError:
            return False
else:
    def decode_utf8(data):
        """Strict UTF-8: MicroPython's decode takes overlong forms ('%c0%ae' as '.'),
        surrogates and code points past U+10FFFF."""
        text = data.decode()
        if len(text) != len(data):   # not plain ASCII: check it byte by byte
            _check_utf8(data)
        return text

    def is_utf8(data):
        """Whether data is strict UTF-8, without making a str of it (one search when
        it is plain ASCII: a new str costs MicroPython a look through its names)."""
        if not data or max(data) < 0x80:   # max() runs in C: faster than a search
            return True
        try:
            _check_utf8(data)
            return True
        except UnicodeError:
            return False
