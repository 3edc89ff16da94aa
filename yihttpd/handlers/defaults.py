"""reset.sh: the factory settings back, as the firmware's (docs/API.md).

The firmware removes the confs, then unpacks etc/defaults.tar.bz2 over
them: a missing or broken archive leaves the camera with no settings. Here
the archive is read (the package's own bzip2, as load.sh reads one, on both
runtimes), unpacked and checked first (settings members only, as load.sh
takes them), and only then does it replace the confs.
"""
from .. import compress, files, tar
from ..http import HttpError, ok
from ..settings_archive import install, unpack

DEFAULTS = 'defaults.tar.bz2'
# The files the firmware's reset.sh removes before unpacking the defaults.
RESET_FILES = ('hostname', 'camera.conf', 'mqttv4.conf', 'proxychains.conf', 'system.conf')


def restore(sd, archive, scratch):
    """Unpack and check the archive in scratch, then put the defaults in place: its
    members replace the confs, the other RESET_FILES are removed, as after the
    firmware's reset; all in one step, so a kill leaves the old settings or the defaults."""
    with open(archive, 'rb') as f:
        names = unpack(compress.bz2_reader(f), scratch)
    install(sd, scratch, names, [name for name in RESET_FILES if name not in names])


def clear(scratch):
    """Remove a scratch folder (or whatever a killed reset left at its name)."""
    files.remove_entry(scratch)


def reset(req):
    """GET reset.sh: {"error":"false"} once etc/defaults.tar.bz2 replaced the settings."""
    app = req.app
    archive = app.sd.conf_path(DEFAULTS)
    if files.entry_kind(archive) != 'file':
        raise HttpError(503, 'no %s on the card: nothing was reset' % DEFAULTS)
    scratch = files.temp_path(app.tmp_dir, 'reset')
    clear(scratch)
    try:
        files.makedirs(scratch)
        restore(app.sd, archive, scratch)
    except tar.ArchiveError as err:
        raise HttpError(503, '%s refused, nothing was reset: %s' % (DEFAULTS, err.message))
    finally:
        clear(scratch)
    return ok()
