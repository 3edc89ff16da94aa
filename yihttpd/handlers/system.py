"""reboot.sh and fw_upgrade.sh: the camera's own life cycle.

reboot.sh answers, and runs the reboot command once the answer is out.

fw_upgrade.sh?get=info asks the release URL for the latest tag;
get=upgrade takes the local archive (ROOT/<model>_x.x.x.tgz) or downloads
the latest one, unpacks it into a staging folder on the SD card a slice at
a time on the loop, copies the current etc/ over the archive's, moves the
staged entries into place (what they replace is kept in .fw_upgrade.old
until the next upgrade), answers, then reboots. The firmware replaces
yi-hack/ whole; yihttpd's own files and its line in startup.sh are copied
into the staged yi-hack/ first, so the camera boots into yihttpd again.

get=upgrade answers as the firmware does, 200 text/html with one of its
sentences, failures too: its page shows the text and otherwise stays on
"download in progress". The details of a failure go to the log.

Fetching is a child program (--wget, `wget`) writing a file while the loop
goes on, given LATEST_TIMEOUT seconds for the release info: the release URL
is HTTPS, MicroPython has no ssl, and the firmware ships a wget with TLS.
"""
import os

from .. import checks, compress, conf, files
from ..child import Background
from ..http import Deferred, HttpError, ok, text_response
from ..tar import DOWNLOADED, FIRMWARE, REPLACED, STAGING, ArchiveError, unpack

DEFAULT_REBOOT_CMD = 'sync; reboot'
REBOOT_TIMEOUT = 60          # seconds before a reboot command that has not ended is logged
DEFAULT_RELEASE_URL = 'https://api.github.com/repos/roleoroleo/yi-hack-Allwinner-v2/releases/latest'
DEFAULT_DOWNLOAD_URL = ('https://github.com/roleoroleo/yi-hack-Allwinner-v2/releases/download/'
                        '{tag}/{model}_{tag}.tgz')
LATEST_TIMEOUT = 5           # seconds the release URL gets before latest_fw is ""
DOWNLOAD_TIMEOUT = 900       # seconds a firmware download (~15 MB on a slow link) may take
RELEASE_HEAD = 16384         # GitHub puts tag_name in the first few KiB of a release
MAX_TAG = 32                 # a release tag such as 0.4.12 is far shorter
TAG_CHARS = checks.NAME_CHARS + '.'
MIN_FREE_MB = 100            # an upgrade needs room for the archive and its unpacked copy
LOCAL_TAG = 'x.x.x'          # the firmware's name for an archive dropped on the card
COPY_CHUNK = 4096            # bytes copied at a time
# What the payload installs in yi-hack/ (build_payload.py): an upgrade carries it over
YIHTTPD_FILES = ('yihttpd', 'yihttpd-defaults', 'yihttpd-startup.sh', 'yihttpd.sha256',
                 'script/yihttpd.sh')
STARTUP = 'startup.sh'              # the firmware's system.sh runs yi-hack/startup.sh at boot
HOOK_MARK = 'script/yihttpd.sh start'   # a startup.sh line holding this starts yihttpd

# What get=upgrade answers: the firmware's fw_upgrade.sh sentences, byte for byte ...
NO_SD = 'No SD detected.'
NO_SPACE = 'No space left on SD.'
NO_NEW_FIRMWARE = 'No new firmware available.'
NO_DOWNLOAD = 'Unable to download firmware file.'
UPGRADING = 'Download completed, rebooting and upgrading.'
# ... and ours for what the firmware does not check
UNDER_WAY = 'An upgrade is already in progress.'
REFUSED = 'Firmware file refused: %s.'
NOT_INSTALLED = 'Unable to install firmware file.'

# -- reboot -------------------------------------------------------------------

def reboot(app):
    """Run the reboot command beside the loop (the options' text, never a client's)."""
    command = app.options.reboot_cmd or DEFAULT_REBOOT_CMD
    app.log('rebooting: ' + command)

    def ended(code):
        app.log('reboot command ended: %s' % ('still running' if code is None else 'exit %d' % code))
    Background(app.loop, ['/bin/sh', '-c', command], REBOOT_TIMEOUT, ended, app.tmp_dir)


def reboot_sh(req):
    response = ok()
    response.after_sent = lambda: reboot(req.app)
    return response


# -- release info ---------------------------------------------------------------

def tag_from_release(path):
    """The tag_name of a release JSON file, or '' when it has none that is a plain tag."""
    try:
        with open(path, 'rb') as f:
            head = f.read(RELEASE_HEAD)
    except OSError:
        return ''
    at = head.find(b'"tag_name"')
    if at < 0:
        return ''
    rest = head[at + len(b'"tag_name"'):].lstrip()
    if not rest.startswith(b':'):
        return ''
    rest = rest[1:].lstrip()
    end = rest.find(b'"', 1)
    if not rest.startswith(b'"') or end < 0:
        return ''
    try:
        tag = rest[1:end].decode()
    except UnicodeError:
        return ''
    return tag if checks.only(tag, TAG_CHARS, MAX_TAG) else ''


def fetch(deferred, url, path, timeout, on_done):
    """wget url into path beside the loop; on_done(True when it arrived whole), a step of deferred."""
    app = deferred.req.app
    argv = [app.options.wget, '-q', '-T', str(LATEST_TIMEOUT), '-O', path, url]
    files.remove_if_there(path)   # wget -O would write through a link planted at the name
    return Background(app.loop, argv, timeout, deferred.step(lambda code: on_done(code == 0)),
                      app.tmp_dir)


def latest_tag(deferred, on_tag):
    """Ask the release URL for the latest tag; on_tag(tag or '') within LATEST_TIMEOUT."""
    app = deferred.req.app
    path = files.unique_temp_path(app.tmp_dir, 'release')

    def done(arrived):
        tag = tag_from_release(path) if arrived else ''
        files.remove_if_there(path)
        on_tag(tag)
    return fetch(deferred, app.options.release_url or DEFAULT_RELEASE_URL, path, LATEST_TIMEOUT, done)


def model_suffix(app):
    model = app.sd.model_suffix()
    if model is None:
        raise HttpError(500, 'yi-hack/model_suffix is missing or not a model name')
    return model


def local_archive(app):
    return '%s/%s_%s.tgz' % (app.sd.root, model_suffix(app), LOCAL_TAG)


def fw_version(app):
    return app.sd.read_text(app.sd.yi_hack + '/version', '')


def fw_info(req):
    app = req.app
    fields = {'fw_version': fw_version(app),
              'local_fw': files.stat(local_archive(app)) is not None}   # a JSON boolean, as the firmware prints it

    deferred = Deferred(req)

    def answer(tag):
        fields['latest_fw'] = tag
        deferred.resolve(ok(fields))
    fetching = latest_tag(deferred, answer)
    deferred.on_cancel = fetching.cancel
    return deferred


def fw_upgrade_sh(req):
    if req.choice('get', ('info', 'upgrade'), '') == 'info':
        return fw_info(req)
    return fw_upgrade(req)


# -- upgrade --------------------------------------------------------------------

def free_mb(path):
    st = os.statvfs(path)
    return st[1] * st[4] // (1024 * 1024)


def upgrade_text(app, sentence, detail=None):
    """The firmware's kind of answer: 200, text/html, one sentence; detail goes to the log."""
    if detail:
        app.log('upgrade: ' + detail)
    return text_response(sentence, 'text/html')


def html_safe(text):
    return text.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')


def fw_upgrade(req):
    app = req.app
    if app.state(__name__, Upgrading).running:
        return upgrade_text(app, UNDER_WAY)
    needed = app.options.upgrade_min_free_mb
    needed = MIN_FREE_MB if needed is None else needed
    try:
        free = free_mb(app.sd.root)
    except OSError as exc:
        return upgrade_text(app, NO_SD, 'cannot read the free space of the SD card: %r' % exc)
    if free < needed:
        return upgrade_text(app, NO_SPACE, '%d MB free on the SD card, %d MB needed' % (free, needed))
    if app.sd.model_suffix() is None:
        return upgrade_text(app, NO_DOWNLOAD, 'yi-hack/model_suffix is missing or not a model name')
    return Upgrade(req).deferred


class Upgrading:
    """What fw_upgrade.sh keeps: whether an upgrade runs (one at a time)."""

    def __init__(self, _app):
        self.running = False


class Upgrade:
    """One firmware upgrade, step by step on the loop; answers, then reboots."""

    def __init__(self, req):
        self.req = req
        self.app = req.app
        self.root = req.app.sd.root
        self.staging = self.root + '/' + STAGING
        self.deferred = Deferred(req, on_cancel=self.client_gone, on_fail=self.clean_up)
        self.client_left = False
        self.source = None
        self.model = model_suffix(self.app)
        for leftover in (self.staging, self.root + '/' + REPLACED):
            if files.is_dir(leftover):
                files.remove_tree(leftover)
        files.remove_if_there(self.root + '/' + DOWNLOADED)
        self.app.state(__name__, Upgrading).running = True
        self.deferred.step(self.start)()

    def start(self):
        local = local_archive(self.app)
        if files.stat(local) is not None:
            self.unpack(local)
        else:
            latest_tag(self.deferred, self.download)

    def client_gone(self):
        """The upgrade goes on; without a client to answer, it reboots when done."""
        self.client_left = True

    def clean_up(self):
        """Let go of what a failed upgrade made or holds; the next one may start."""
        if self.source is not None:
            self.source.close()
        if files.is_dir(self.staging):
            files.remove_tree(self.staging)
        files.remove_if_there(self.root + '/' + DOWNLOADED)
        self.app.state(__name__, Upgrading).running = False

    def fail(self, sentence, detail=None):
        self.clean_up()
        self.deferred.resolve(upgrade_text(self.app, sentence, detail))

    def download(self, tag):
        if not tag:
            return self.fail(NO_DOWNLOAD, 'the release URL gave no latest firmware version')
        if tag == fw_version(self.app):
            return self.fail(NO_NEW_FIRMWARE, '%s is installed' % tag)
        url = (self.app.options.download_url or DEFAULT_DOWNLOAD_URL).replace(
            '{tag}', tag).replace('{model}', self.model)
        path = self.root + '/' + DOWNLOADED

        def arrived(whole):
            if whole:
                self.unpack(path)
            else:
                self.fail(NO_DOWNLOAD, 'could not download %s' % url)
        fetch(self.deferred, url, path, DOWNLOAD_TIMEOUT, arrived)

    def unpack(self, archive):
        self.archive = archive
        try:
            os.mkdir(self.staging)
            self.source = open(archive, 'rb')
        except OSError as exc:
            return self.fail(NOT_INSTALLED, 'cannot unpack onto the SD card: %r' % exc)
        size = files.stat_size(files.stat(archive))
        self.step(unpack(compress.gzip_reader(self.source, size), self.staging, FIRMWARE, None))

    def step(self, steps):
        try:
            next(steps)
        except StopIteration:
            return self.unpacked(None)
        except ArchiveError as err:
            return self.unpacked(err)
        except OSError as exc:   # e.g. a file member where the archive made a directory
            return self.unpacked(ArchiveError('cannot unpack: %r' % exc))
        except MemoryError:      # e.g. no room for the inflater's window on a small heap
            return self.unpacked(ArchiveError('not enough memory to unpack'))
        self.deferred.later(0, self.step, steps)

    def unpacked(self, error):
        self.source.close()
        self.source = None
        if error is not None:
            return self.fail(REFUSED % html_safe(error.message), error.message)
        try:
            keep_settings(self.app.sd.etc, self.staging + '/yi-hack/etc')
            keep_yihttpd(self.app.sd.yi_hack, self.staging + '/yi-hack')
            move_into_place(self.staging, self.root, self.root + '/' + REPLACED)
        except OSError as exc:
            return self.fail(NOT_INSTALLED, 'could not put the new firmware in place: %r' % exc)
        files.remove_if_there(self.archive)
        self.app.state(__name__, Upgrading).running = False
        if self.client_left:
            reboot(self.app)
            return
        response = upgrade_text(self.app, UPGRADING)
        response.after_sent = lambda: reboot(self.app)
        self.deferred.resolve(response)


def keep_settings(etc, staged_etc):
    """Copy the current etc/ files over the archive's, so the new firmware keeps the settings."""
    files.makedirs(staged_etc)
    for name, kind in files.list_entries(etc):
        if kind == 'file':
            copy_file(etc + '/' + name, staged_etc + '/' + name)


def keep_yihttpd(yi_hack, staged):
    """Copy yihttpd's files into the staged yi-hack/, and its boot hook into the staged
    startup.sh when the card had it (an owner who took the line out keeps it out)."""
    for rel in YIHTTPD_FILES:
        source = yi_hack + '/' + rel
        kind = files.entry_kind(source)
        if kind == 'dir':
            copy_tree(source, staged + '/' + rel)
        elif kind == 'file':
            files.makedirs((staged + '/' + rel).rpartition('/')[0])
            copy_file(source, staged + '/' + rel)
    hook = boot_hook(yi_hack + '/' + STARTUP)
    if hook is None:
        return
    target = staged + '/' + STARTUP
    if files.entry_kind(target) != 'file':   # the archive has none: the owner's goes on
        copy_file(yi_hack + '/' + STARTUP, target)
    elif boot_hook(target) is None:
        text = conf.read_small(target).decode()
        if text and not text.endswith('\n'):
            text += '\n'
        conf.atomic_write(target, (text + hook + '\n').encode())


def boot_hook(path):
    """The line of a startup.sh that starts yihttpd, or None (no file, no such line)."""
    try:
        lines = conf.read_small(path).decode().split('\n')
    except (OSError, ValueError):   # ValueError: too large, or not UTF-8
        return None
    for line in lines:
        if HOOK_MARK in line and not line.lstrip().startswith('#'):
            return line.rstrip('\r')
    return None


def copy_tree(source, target):
    """Directories and regular files of source, copied under target (links are not followed)."""
    files.makedirs(target)
    for name, kind in list(files.list_entries(source)):
        if kind == 'dir':
            copy_tree(source + '/' + name, target + '/' + name)
        elif kind == 'file':
            copy_file(source + '/' + name, target + '/' + name)


def copy_file(source, target):
    with open(source, 'rb') as src, open(target, 'wb') as dst:
        while True:
            chunk = src.read(COPY_CHUNK)
            if not chunk:
                break
            dst.write(chunk)


def move_into_place(staging, root, replaced):
    """Rename each staged top-level entry into root; what was there goes to replaced."""
    os.mkdir(replaced)
    for name, _kind in list(files.list_entries(staging)):
        if files.entry_kind(root + '/' + name) is not None:
            os.rename(root + '/' + name, replaced + '/' + name)
        os.rename(staging + '/' + name, root + '/' + name)
    os.rmdir(staging)
