"""The set of confs in etc/ replaced as one step (load.sh, reset.sh).

Each conf is written whole (temp file + rename), but a restore changes
several, and a kill between two of them would leave confs from two
backups. So the new files are first staged in etc/.yihttpd-switch
(conf.SWITCH_STAGE: in etc/, so a rename moves a file in one step), then
a plan naming what to put and what to drop is written there (atomically:
its presence is the commit), then the files are switched one rename at a
time and the stage removed. At the next start, before any conf is read,
finish_cut_short() completes a switch whose plan was written and removes a
stage that has none: the set is all old or all new, never mixed.
"""
import os
import time

from . import conf, files

PLAN = '.plan'              # in the stage; settings names never start with '.'
PUT, DROP = 'put', 'drop'
COPY_CHUNK = 4096           # bytes copied at a time into the stage (the heap may be 256K)
HOLD_POINTS = ('staged', 'switching')   # where --test-hold-switch stops a switch

_hold = []   # (point, log) while a test holds switches at that point


def hold_at(point, log):
    """Tests: stop every switch at point ('staged': no plan yet; 'switching': one
    file switched) and wait there to be killed, so a kill lands there for sure."""
    _hold[:] = [(point, log)]


def _reached(point):
    if _hold and _hold[0][0] == point:
        _hold[0][1]('conf switch held at %s: waiting to be killed' % point)
        while True:
            time.sleep(1)


def replace(etc, source, names, dropped=()):
    """etc/ gets the files `names` of folder source and loses the files `dropped`, in one step."""
    stage = etc + '/' + conf.SWITCH_STAGE
    files.remove_entry(stage)
    os.mkdir(stage)
    try:
        for name in names:
            _copy(source + '/' + name, stage + '/' + name)
        _reached('staged')
        plan = [PUT + ' ' + name for name in names] + [DROP + ' ' + name for name in dropped]
        conf.atomic_write(stage + '/' + PLAN, '\n'.join(plan).encode())
    except BaseException:
        files.remove_entry(stage)   # nothing was switched: the old set stays
        raise
    files.fsync_dir(stage)
    _switch(etc, stage)


def finish_cut_short(etc, log):
    """At start: complete a switch whose plan was written, undo one that had none."""
    stage = etc + '/' + conf.SWITCH_STAGE
    kind = files.entry_kind(stage)
    if kind is None:
        return
    if kind == 'dir' and files.entry_kind(stage + '/' + PLAN) == 'file':
        _switch(etc, stage)
        log('finished a conf switch that was cut short: the new set is in place')
    else:
        files.remove_entry(stage)
        log('removed a conf switch that was cut short before its plan: the old set stays')


def _switch(etc, stage):
    """Do the plan: each staged file renamed into etc/ (one already moved is
    skipped, so a switch cut short again is done again), then the stage removed."""
    from .tar import is_settings_name   # only a switch needs it; start-up stays light
    for line in conf.read_lines(stage + '/' + PLAN):
        verb, _sep, name = line.partition(' ')
        if not is_settings_name(name):
            continue
        if verb == PUT and files.entry_kind(stage + '/' + name) == 'file':
            os.rename(stage + '/' + name, etc + '/' + name)
            _reached('switching')
        elif verb == DROP:
            files.remove_if_there(etc + '/' + name)
    files.fsync_dir(etc)
    files.remove_entry(stage)


def _copy(src, dst):
    """src into a new file dst, a chunk at a time, pushed to the card."""
    buf = bytearray(COPY_CHUNK)
    with open(src, 'rb') as fin, files.create_new(dst) as fout:
        while True:
            n = fin.readinto(buf)
            if not n:
                break
            fout.write(memoryview(buf)[:n])
        files.fsync_file(fout)

