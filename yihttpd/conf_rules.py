"""The firmware's rules for values written to the KEY=VALUE confs.

set_configs.sh (handlers/config.py) and settings over MQTT (mqtt_settings.py)
both write through save_changes, so one rule holds for both. Refusals are
checks.Refused: nothing is written.
"""
from . import checks, conf
from .checks import Refused, shown

# ?conf= names the firmware's page uses (and mqtt-config's cmnd/FILE), and their files in yi-hack/etc
CONF_FILES = {'system': 'system.conf', 'mqtt': 'mqttv4.conf', 'camera': 'camera.conf',
              'mqtt_advertise': 'mqtt_advertise.conf', 'ptz_presets': 'ptz_presets.conf',
              'proxychains': 'proxychains.conf'}
SECRET_SUFFIX = 'PASSWORD'   # keys ending so are never sent back in clear
MASK = '********'            # what a secret is answered as; sent back, it keeps the stored value
MAX_VALUE = 1024             # longest value stored: the firmware's URLs, passwords and cron lines are far shorter
STORED_LINE_BREAK = '\\n'    # a value's line break is stored as these two characters, as the firmware does

# Values the firmware's set_configs.sh checks (it skips others and says saved; we refuse them)
TIMELAPSE_STEPS = ('1', '2', '3', '4', '5', '6', '10', '15', '20', '30', '60', '120', '180',
                   '240', '360', '1440')   # minutes between time-lapse frames
DAILY_AT = '1440+'           # 1440+N: one frame a day, N minutes after midnight
MINUTES_A_DAY = 1440
MOST_IMAGE_DELAY = 5         # seconds: MOTION_IMAGE_DELAY's upper bound
DELAY_DIGITS = 4             # digits either side of the point in MOTION_IMAGE_DELAY
DELAY_KEY = 'MOTION_IMAGE_DELAY'
STEP_KEY = 'TIMELAPSE_DT'

# proxychains.conf's servers, as the page sends them joined by ';' in PROXYCHAINS_SERVERS
PROXY_SEPARATOR = ';'
PROXIES_KEY = 'PROXYCHAINS_SERVERS'
PROXY_TYPES = ('http', 'raw', 'socks4', 'socks5')
PROXY_HOST_CHARS = checks.LETTERS + checks.DIGITS + '-.:'
PROXY_CREDENTIAL_CHARS = checks.LETTERS + checks.DIGITS + "-._~!$%&*+,=:@/?^'()[]{}|<>"
PROXY_WORD = 253             # longest host name (DNS), user or password taken
PROXY_RULE = 'TYPE HOST PORT [USER PASSWORD], TYPE one of ' + ', '.join(PROXY_TYPES)


def is_secret(key):
    return key.endswith(SECRET_SUFFIX)


def stored_value(key, value):
    """value as one KEY=VALUE line holds it: a line break (a multi-line CRONTAB) becomes a
    literal \\n, as the firmware's set_configs.sh stores it; Refused for what a line cannot hold."""
    if '\r' in value:
        raise Refused('value of %s has a carriage return (CR): a conf line cannot hold it' % key)
    if '\0' in value:
        raise Refused('value of %s has a NUL character: a conf line cannot hold it' % key)
    if any('\ud800' <= c <= '\udfff' for c in value):
        # No UTF-8 form. CPython's json joins an escaped pair into one character;
        # MicroPython's keeps the two halves, so there a \uD83D\uDE00 pair is refused too.
        raise Refused('value of %s holds a UTF-16 surrogate escape' % key)
    value = value.replace('\n', STORED_LINE_BREAK)
    if len(value) > MAX_VALUE:
        raise Refused('value of %s is longer than %d characters' % (key, MAX_VALUE))
    return value


def checked_value(key, value):
    """Refused, naming the key, when the firmware's rule for it does not take value."""
    if key == STEP_KEY and not is_timelapse_step(value):
        raise Refused('value of %s must be one of %s, or 1440+N with N at most %d' % (
            key, ', '.join(TIMELAPSE_STEPS), MINUTES_A_DAY))
    if key == DELAY_KEY and not is_image_delay(value):
        raise Refused('value of %s must be a number of seconds from 0 to %d' % (
            key, MOST_IMAGE_DELAY))
    if key == PROXIES_KEY:
        for entry in proxy_entries(value):
            if not is_proxy(entry):
                raise Refused('each server of %s must be %s: %s' % (key, PROXY_RULE, shown(entry)))


def is_timelapse_step(value):
    if value in TIMELAPSE_STEPS:
        return True
    return value.startswith(DAILY_AT) and \
        checks.number(value[len(DAILY_AT):], 0, MINUTES_A_DAY) is not None


def is_image_delay(value):
    """Seconds as the page sends them: 0.5 or 0,5, up to MOST_IMAGE_DELAY."""
    whole, point, fraction = value.replace(',', '.').partition('.')
    if not checks.only(whole, checks.DIGITS, DELAY_DIGITS):
        return False
    if point and not checks.only(fraction, checks.DIGITS, DELAY_DIGITS):
        return False
    return int(whole) < MOST_IMAGE_DELAY or (int(whole) == MOST_IMAGE_DELAY and
                                               fraction.strip('0') == '')


def proxy_entries(value):
    return [entry.strip() for entry in value.split(PROXY_SEPARATOR) if entry.strip()]


def is_proxy(entry):
    words = entry.split()
    if len(words) not in (3, 5) or words[0] not in PROXY_TYPES:
        return False
    if not checks.only(words[1], PROXY_HOST_CHARS, PROXY_WORD):
        return False
    if checks.number(words[2], 1, 65535) is None:
        return False
    return all(checks.only(word, PROXY_CREDENTIAL_CHARS, PROXY_WORD) for word in words[3:])


def checked_changes(changes):
    """{KEY: value as sent} as stored, every value through the rules above; Refused at the first one a rule does not take."""
    checked = dict((key, stored_value(key, value)) for key, value in changes.items())
    for key in checked:
        checked_value(key, checked[key])
    return checked


def write_changes(path, changes):
    """Write checked_changes' result into a conf; the keys it has (conf.update_conf).

    Keys the file lacks are left out; a secret sent back as MASK keeps its
    stored value. A file that would grow past conf.MAX_CONF_SIZE: Refused,
    nothing written.
    """
    changes = dict(changes)
    if DELAY_KEY in changes:
        changes[DELAY_KEY] = changes[DELAY_KEY].replace(',', '.')
    for key in list(changes):
        if is_secret(key) and changes[key] == MASK:
            del changes[key]
    try:
        return conf.update_conf(path, changes)
    except conf.ConfTooLarge as err:
        raise Refused('refused: ' + err.message)
