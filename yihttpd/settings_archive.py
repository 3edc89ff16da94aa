"""A settings archive (load.sh's upload, reset.sh's defaults): unpacked into a scratch
folder and checked whole before anything is kept, then put in place as one step."""
from . import checks, conf, confset, tar

REQUIRED = ('system.conf', 'camera.conf')   # an archive without these is not a backup of settings


def unpack(stream, scratch):
    """Unpack a plain settings tar into scratch and check it whole; its member
    names (tar.ArchiveError at the first thing refused). load.sh and reset.sh."""
    names = []
    for _ in tar.unpack(stream, scratch, tar.SETTINGS, names):
        pass
    for required in REQUIRED:
        if required not in names:
            raise tar.ArchiveError('the archive has no %s' % required)
    for name in names:
        check_member_text(scratch, name)
    return names


def check_member_text(scratch, name):
    """A conf is UTF-8 text without NUL; hostname holds one valid hostname or nothing."""
    data = conf.read_small(scratch + '/' + name, tar.SETTINGS.member_size)
    try:
        text = data.decode()
    except UnicodeError:
        raise tar.ArchiveError('%s is not UTF-8 text' % name)
    if '\0' in text:
        raise tar.ArchiveError('%s holds a NUL byte' % name)
    if name == tar.HOSTNAME and text.strip() and not checks.is_hostname(text.strip()):
        raise tar.ArchiveError('hostname must hold %s' % checks.HOSTNAME_RULE)


def install(sd, scratch, names, dropped=()):
    """The checked members replace their confs in etc/ and `dropped` go, as one
    step (confset.py); the new hostname or None."""
    hostname = None
    if tar.HOSTNAME in names:
        hostname = conf.read_small(scratch + '/' + tar.HOSTNAME, tar.SETTINGS.member_size).decode().strip() or None
    confset.replace(sd.etc, scratch, names, dropped)
    return hostname
