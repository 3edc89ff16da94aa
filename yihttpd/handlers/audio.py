"""speak.sh, speaker.sh and speaker_file.sh: sound out of the camera's speaker
as the firmware plays it (docs/API.md).

The same programs and FIFO as the firmware's scripts: `speaker on`, nanotts
(text to PCM), `pcmvol -g|-G VOLUME` into /tmp/audio_in_fifo, 1 s, `speaker
off`, found on the firmware scripts' PATH (SdCard.firmware_path). They
run beside the loop as one fixed shell script whose values are its
arguments (never part of its text), so the server never waits on the FIFO;
one sound plays at a time (503 while busy).
"""
import json

from .. import checks, files
from ..child import Background
from ..http import Deferred, HttpError, Response
from ..multipart import body_stream, multipart_file

AUDIO_DIR = 'audio'                 # speaker_file.sh plays files of ROOT/audio
LANG_DIR = '/yi-hack/usr/share/pico/lang'
PLAY_TIMEOUT = 120.0        # seconds a sound may take, speaking included; then it is stopped
TEXT_MAX = 1024             # characters spoken at most (the body's first line)
VOLUME_MAX = 8              # characters of a volume, e.g. "-12.5"
NAME_MAX = 64               # characters of an audio file name
NAME_CHARS = checks.NAME_CHARS + '.'
COPY_CHUNK = 16384          # bytes copied at a time from the upload to the PCM file

# The firmware's play sequence. $0 PCM file, $1 -g or -G, $2 volume, $3 FIFO;
# to speak, $4 nanotts, $5 its language folder, $6 language, $7 text file.
TO_FIFO = 'pcmvol "$1" "$2" <"$0" >"$3"; rc=$?; sleep 1; speaker off >/dev/null; exit $rc'
PLAY = 'speaker on >/dev/null; ' + TO_FIFO
SPEAK = 'speaker on >/dev/null; "$4" -l "$5" -v "$6" -c <"$7" >"$0" && ' + TO_FIFO


def answer(error, description, status=200):
    """The firmware's answer: {"error":"true|false","description":...}."""
    body = {'error': 'true' if error else 'false', 'description': description}
    return Response(json.dumps(body).encode(), status)


class Refused(HttpError):
    """An audio refusal, answered in the firmware's shape (description, not message)."""

    def response(self):
        return answer(True, self.message, self.status)


def volume(req, name, default):
    """A volume as pcmvol takes it: [-]digits[.digits]; 400 otherwise."""
    text = req.param(name, default)
    whole, dot, fraction = (text[1:] if text.startswith('-') else text).partition('.')
    if len(text) > VOLUME_MAX or not checks.only(whole, checks.DIGITS, VOLUME_MAX) or \
            (dot and not checks.only(fraction, checks.DIGITS, VOLUME_MAX)):
        raise Refused(400, 'Invalid volume' + (' (dB)' if name == 'voldb' else ''))
    return text


def gain(req, default_db):
    """('-G', dB) when voldb is given (or is the default), else ('-g', factor)."""
    if req.param('voldb') is not None or default_db:
        return '-G', volume(req, 'voldb', '1')
    return '-g', volume(req, 'vol', '1')


class SpeakerState:
    """What the speaker services keep: whether a sound plays (one at a time)."""

    def __init__(self, _app):
        self.playing = False


def speaker_state(app):
    return app.state(__name__, SpeakerState)


def check_ready(app):
    """The FIFO (audio input on) and no other sound playing; 503 otherwise."""
    if files.entry_kind(app.options.audio_fifo) != 'other':
        raise Refused(503, 'Audio input disabled')
    if speaker_state(app).playing:
        raise Refused(503, 'Speaker busy')


def play(req, script, args, remove, description, wait):
    """Run script with args; answer when it ends (wait) or at once. remove: files made for it."""
    app = req.app
    deferred = Deferred(req) if wait else None

    def ended(status):
        speaker_state(app).playing = False
        for made in remove:
            files.remove_if_there(made)
        if deferred is not None:
            if status != 0:
                raise Refused(503, 'Playing failed')
            deferred.resolve(answer(False, description))
    speaker_state(app).playing = True
    try:
        Background(app.loop, ['env', 'PATH=' + app.sd.firmware_path(), 'sh', '-c', script] + args,
                   PLAY_TIMEOUT, deferred.step(ended) if wait else ended, app.tmp_dir)
    except OSError:
        ended(1)
        raise
    return deferred or answer(False, description)


def speak(req):
    """POST speak.sh?lang=en-US&voldb=N, body: the text (its first line) -> nanotts -> the speaker."""
    app = req.app
    lang = req.param('lang', 'en-US')
    if len(lang) != 5 or not checks.only(lang, checks.LETTERS + '-', 5):
        raise Refused(400, 'Invalid language')
    flag, level = gain(req, False)
    try:
        text = checks.decode_utf8(req.body).split('\n')[0].rstrip('\r')
    except UnicodeError:
        raise Refused(400, 'text is not UTF-8')
    if not text or len(text) > TEXT_MAX:
        raise Refused(400, 'text must be 1 to %d characters' % TEXT_MAX)
    nanotts = app.sd.yi_hack + '/bin/nanotts'
    if files.entry_kind(nanotts) != 'file':
        raise Refused(503, 'TTS engine not found')
    check_ready(app)
    text_path = files.temp_path(app.tmp_dir, 'speak', 'txt')
    pcm = files.temp_path(app.sd.root, 'speak', 'pcm')
    with open(text_path, 'wb') as f:
        f.write(text.encode() + b'\n')
    return play(req, SPEAK, [pcm, flag, level, app.options.audio_fifo, nanotts,
                             app.sd.root + LANG_DIR, lang, text_path],
                [text_path, pcm], text, True)


def copy_sound(req, pcm):
    """Write the sound of speaker.sh's body (a form's first file part, or the
    body itself) to pcm, less the 4 bytes 'RIFF' of a WAV file as the firmware does."""
    stream, size = body_stream(req)
    try:
        source = stream
        if req.headers.get('content-type', '').lower().startswith('multipart/'):
            try:
                source = multipart_file(stream, size, req.headers['content-type'])
            except HttpError as err:
                raise Refused(400, err.message)
        first = source.read(4)
        if not first:
            raise Refused(400, 'no sound in the body')
        with open(pcm, 'wb') as out:
            out.write(b'' if first == b'RIFF' else first)
            chunk = source.read(COPY_CHUNK)
            while chunk:
                out.write(chunk)
                chunk = source.read(COPY_CHUNK)
    finally:
        stream.close()


def speaker(req):
    """POST speaker.sh?voldb=N (or vol=N), body: PCM or WAV (raw or a form's file): answered at once."""
    app = req.app
    flag, level = gain(req, False)
    check_ready(app)
    pcm = files.temp_path(app.sd.root, 'speaker', 'pcm')
    try:
        copy_sound(req, pcm)
    except BaseException:
        files.remove_if_there(pcm)
        raise
    return play(req, PLAY, [pcm, flag, level, app.options.audio_fifo], [pcm], '', False)


def speaker_file(req):
    """POST speaker_file.sh?voldb=N, body: the name of a file in ROOT/audio."""
    app = req.app
    flag, level = gain(req, True)
    try:
        name = checks.decode_utf8(req.body).split('\n')[0].strip()
    except UnicodeError:
        name = ''
    if name.startswith('.') or not checks.only(name, NAME_CHARS, NAME_MAX):
        raise Refused(400, 'File name must be 1 to %d letters, digits, _, - or . (not first)' % NAME_MAX)
    path = app.sd.root + '/' + AUDIO_DIR + '/' + name
    if files.entry_kind(app.sd.root + '/' + AUDIO_DIR) != 'dir' or files.entry_kind(path) != 'file':
        raise Refused(404, 'File not found')
    check_ready(app)
    return play(req, PLAY, [path, flag, level, app.options.audio_fifo], [], name, True)
