"""reset.sh: the factory settings back, as the firmware's (docs/API.md).

The firmware removes the confs, then unpacks etc/defaults.tar.bz2 over
them: a missing or broken archive leaves the camera with no settings. Here
the archive is unpacked and checked first (settings members only, as
load.sh takes them), and only then does it replace the confs.
"""
from .. import files, tar
from ..child import Background
from ..http import Deferred, HttpError, ok
from .config import install, unpack_settings

DEFAULTS = 'defaults.tar.bz2'
# The files the firmware's reset.sh removes before unpacking the defaults.
RESET_FILES = ('hostname', 'camera.conf', 'mqttv4.conf', 'proxychains.conf', 'system.conf')
UNPACK_TIMEOUT = 20.0       # seconds bzip2 may take on the camera
# bzip2 runs beside the loop (MicroPython has no bz2); its output is cut at
# what a settings archive can hold, so a bomb cannot fill /tmp.
DECOMPRESSED_MAX = tar.SETTINGS.total + (tar.SETTINGS.members + 2) * tar.BLOCK + tar.TAR_RECORD
DECOMPRESS = 'bzip2 -t "$0" && bzip2 -dc "$0" | head -c "$1"'


def checked_names(plain, scratch):
    """Unpack the plain tar into scratch as load.sh would take it; its names (ArchiveError if refused)."""
    with open(plain, 'rb') as stream:
        return unpack_settings(stream, scratch)


def restore(sd, plain, scratch):
    """Put the defaults in place: the archive's members replace the confs,
    the other RESET_FILES are removed, as after the firmware's reset."""
    names = checked_names(plain, scratch)
    install(sd, scratch, names)
    for name in RESET_FILES:
        if name not in names:
            files.remove_if_there(sd.etc + '/' + name)


def clear(scratch):
    """Remove a scratch folder (or whatever a killed reset left at its name)."""
    if files.entry_kind(scratch) == 'dir':
        files.remove_tree(scratch)
    else:
        files.remove_if_there(scratch)


def reset(req):
    """GET reset.sh: {"error":"false"} once etc/defaults.tar.bz2 replaced the settings."""
    app = req.app
    archive = app.sd.conf_path(DEFAULTS)
    if files.entry_kind(archive) != 'file':
        raise HttpError(503, 'no %s on the card: nothing was reset' % DEFAULTS)
    if app.resetting:
        raise HttpError(503, 'a reset is under way')
    scratch = files.temp_path(app.tmp_dir, 'reset')
    plain = scratch + '.tar'
    clear(scratch)
    deferred = Deferred(req)

    def ended(status):
        app.resetting = False
        try:
            if status != 0:
                raise tar.ArchiveError('bzip2 could not read it')
            files.makedirs(scratch)
            restore(app.sd, plain, scratch)
        except tar.ArchiveError as err:
            raise HttpError(503, '%s refused, nothing was reset: %s' % (DEFAULTS, err.message))
        except OSError as err:
            raise HttpError(500, 'reset not finished: %s' % err)
        finally:
            files.remove_if_there(plain)
            clear(scratch)
        deferred.resolve(ok())   # once the scratch files are gone
    app.resetting = True
    Background(app.loop, ['sh', '-c', DECOMPRESS, archive, str(DECOMPRESSED_MAX)], UNPACK_TIMEOUT,
               deferred.step(ended), app.tmp_dir, plain)
    return deferred
