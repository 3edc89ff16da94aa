"""Dates as the answers print them: HTTP's IMF-fixdate, and `date`'s text with the
camera's zone name (the firmware's status.json runs date)."""
import os
import time

DAYS = ('Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun')    # gmtime's and localtime's weekday 0 is Monday
MONTHS = ('Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec')


def http_date(seconds):
    """IMF-fixdate, e.g. 'Wed, 01 Jan 2020 01:00:00 GMT'."""
    t = time.gmtime(seconds)
    return '%s, %02d %s %04d %02d:%02d:%02d GMT' % (
        DAYS[t[6]], t[2], MONTHS[t[1] - 1], t[0], t[3], t[4], t[5])


def date_text():
    """Now as `date` prints it (the firmware's status.json runs it): Fri Dec  4 17:18:38 CET 2026."""
    t = time.localtime()
    return '%s %s %2d %02d:%02d:%02d %s %d' % (DAYS[t[6]], MONTHS[t[1] - 1], t[2], t[3], t[4], t[5],
                                               zone_name(os.getenv('TZ') or '', t[8] > 0), t[0])


def zone_name(tz, summer):
    """The zone's abbreviation in a POSIX TZ string (the camera's TIMEZONE, e.g.
    CET-1CEST,M3.5.0,M10.5.0/3): the standard one, or in summer the daylight one.
    UTC without a TZ, as date prints it."""
    names = []
    rest = tz.lstrip(':')
    while rest and len(names) < 2:
        if rest[0] == '<':                       # a quoted name: <+03>-3
            name, _, rest = rest[1:].partition('>')
        else:
            n = 0
            while n < len(rest) and rest[n].isalpha():
                n += 1
            name, rest = rest[:n], rest[n:]
        if not name:
            break
        names.append(name)
        while rest and rest[0] in '+-:0123456789':   # its offset
            rest = rest[1:]
    if not names:
        return 'UTC'
    return names[1] if summer and len(names) > 1 else names[0]
