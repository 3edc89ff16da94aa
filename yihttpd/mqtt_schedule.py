"""The mqtt_advertise schedules (MQTT_ADV_*_CRONTAB, HOMEASSISTANT_CRONTAB)
kept on the loop's timer instead of crond and a forked script.

A schedule is a crontab time: minute, hour, day of month, month and day
of week, each `*`, a number, a range `a-b`, a step `*/n` or `a-b/n`, or a
comma list of those; day of month and day of week both given means either
(as cron). Times are local (TZ), checked once a minute. A schedule that is
empty or not understood never runs (the firmware's crond skips such a
line too), and the log says so.
"""
import time

from .checks import number

FIELDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))   # minute hour day month weekday (0 and 7: Sunday)
MINUTE = 60


def parse_field(text, low, high):
    """The set of values a field names, or None when it is not a crontab field."""
    values = set()
    for part in text.split(','):
        span, slash, step = part.partition('/')
        if span == '*':
            first, last = low, high
        else:
            start, dash, end = span.partition('-')
            first = number(start, low, high)
            last = number(end, low, high) if dash else (high if slash else first)
        every = number(step, 1, high) if slash else 1
        if first is None or last is None or every is None or first > last:
            return None
        values.update(range(first, last + 1, every))
    return values


def parse(text):
    """[minutes, hours, days, months, weekdays, days given, weekdays given] or None."""
    words = text.split()
    if len(words) != len(FIELDS):
        return None
    sets = [parse_field(word, low, high) for word, (low, high) in zip(words, FIELDS)]
    if None in sets:
        return None
    if 7 in sets[4]:
        sets[4].add(0)
    return sets + [words[2] != '*', words[4] != '*']


def matches(when, t):
    """Whether a parsed schedule runs at local time t (time.localtime's tuple)."""
    minutes, hours, days, months, weekdays, days_given, weekdays_given = when
    if t[4] not in minutes or t[3] not in hours or t[1] not in months:
        return False
    day = t[2] in days
    weekday = (t[6] + 1) % 7 in weekdays   # localtime's Monday is 0, cron's Sunday is 0
    if days_given and weekdays_given:
        return day or weekday
    return day and weekday


class Schedule:
    """Calls fn() at each minute its crontab time names."""

    def __init__(self, loop, log):
        self.loop = loop
        self.log = log
        self.entries = []
        self.timer = None
        self.last = None     # the minute last run, so that a timer a little early never runs one twice

    def add(self, text, fn, what):
        when = parse(text)
        if when is None:
            self.log('%s: schedule %r is not a crontab time: never run' % (what, text))
            return
        self.entries.append((when, fn))
        if self.timer is None:
            self.next_minute()

    def next_minute(self):
        self.timer = self.loop.call_later(MINUTE - time.time() % MINUTE, self.tick)

    def tick(self):
        t = time.localtime()
        if t[:5] == self.last:
            self.next_minute()
            return
        self.last = t[:5]
        for when, fn in self.entries:
            if matches(when, t):
                fn()
        self.next_minute()
