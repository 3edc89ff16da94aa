"""Settings changed over MQTT, as the firmware's mqtt-config and
mqtt_set_config.sh take them, through the web server's own rules.

- PREFIX/cmnd/FILE/PARAM with a value: PARAM (any case) must pass
  mqtt-config's validate.c table for FILE (system, camera or ptz), then
  goes the way the page's change goes: system through set_configs.sh's
  rules (conf_rules), camera through camera_settings.sh's (camera_rules:
  camera.conf, the commands, the AI rules), ptz through ptz.sh's and the
  presets' (ptz_rules). yes/no or on/off for a switch (stored yes/no).
- PREFIX/cmnd/FILE with an empty payload: that conf published on
  PREFIX/stat/FILE/KEY (conf2mqtt.sh; never a password).
- PREFIX/<camera setting topic>/KEY/set (mqtt_set_config.sh, Home
  Assistant's switches): as cmnd/camera/KEY, then the camera settings
  published again.
A value refused changes nothing and is logged. Each file's rules are
imported at its first command (the camera's heap is small). Where this differs from
validate.c: PARAM must be a whole key (validate.c compares 9 characters,
so TIMELAPSE_DT was taken as a switch), and TIMELAPSE_DT takes what
set_configs.sh takes (a step, or 1440+N).
"""
from . import ipc, device
from .camera_queue import CommandQueue
from .checks import Refused, decode_utf8, number, shown

MAX_VALUE = 127              # mqtt-config refuses a longer payload (its buffer is 128 bytes)
SWITCH = 'switch'            # yes/no, or on/off (validate.c's bool)
TEXT = 'text'                # validate.c's string: shorter than MAX_VALUE + 1
RULE = 'rule'                # conf_rules decides (TIMELAPSE_DT)
ON_OFF = {'on': 'yes', 'off': 'no', 'yes': 'yes', 'no': 'no'}

# validate.c's table: FILE -> {PARAM: SWITCH, TEXT, RULE, (low, high) or (one of ...)}
VALIDATE = {
    'system': {
        'HTTPD': SWITCH, 'TELNETD': SWITCH, 'SSHD': SWITCH, 'FTPD': SWITCH, 'BUSYBOX_FTPD': SWITCH,
        'MDNSD': SWITCH, 'DISABLE_CLOUD': SWITCH, 'REC_WITHOUT_CLOUD': SWITCH, 'MQTT': SWITCH,
        'RTSP': SWITCH, 'RTSP_ALT': ('standard', 'alternative', 'go2rtc'),
        'RTSP_STREAM': ('high', 'low', 'both'), 'RTSP_AUDIO': ('no', 'pcm', 'alaw', 'ulaw', 'aac'),
        'RTSP_AUDIO_NR_LEVEL': (0, 30), 'SPEAKER_AUDIO': SWITCH, 'SNAPSHOT': SWITCH,
        'SNAPSHOT_VIDEO': SWITCH, 'SNAPSHOT_LOW': SWITCH, 'TIMELAPSE': SWITCH,
        'TIMELAPSE_FTP': SWITCH, 'TIMELAPSE_FTP_SAME_NAME': SWITCH, 'TIMELAPSE_DT': RULE,
        'TIMELAPSE_VDT': TEXT, 'ONVIF': SWITCH, 'ONVIF_WSDD': SWITCH,
        'ONVIF_PROFILE': ('high', 'low', 'both'), 'ONVIF_WM_SNAPSHOT': SWITCH, 'ONVIF_NETIF': TEXT,
        'ONVIF_AUDIO_BC': ('NONE', 'G711', 'AAC'), 'ONVIF_ENABLE_MEDIA2': SWITCH,
        'ONVIF_FAULT_IF_UNKNOWN': SWITCH, 'ONVIF_SYNOLOGY_NVR': SWITCH, 'TIME_OSD': SWITCH,
        'NTPD': SWITCH, 'NTP_SERVER': TEXT, 'PROXYCHAINSNG': SWITCH, 'SWAP_FILE': SWITCH,
        'SWAP_SWAPPINESS': (0, 100), 'RTSP_PORT': (1, 65535), 'HTTPD_PORT': (1, 65535),
        'USERNAME': TEXT, 'PASSWORD': TEXT, 'TIMEZONE': TEXT,
        'EVENTS_TIME': ('autodetect', 'local', 'gmt'), 'FREE_SPACE': (0, 100), 'FTP_UPLOAD': SWITCH,
        'FTP_HOST': TEXT, 'FTP_DIR': TEXT, 'FTP_DIR_TREE': SWITCH, 'FTP_USERNAME': TEXT,
        'FTP_PASSWORD': TEXT, 'FTP_FILE_DELETE_AFTER_UPLOAD': SWITCH, 'SSH_PASSWORD': TEXT,
        'CRONTAB': TEXT, 'DEBUG_LOG': SWITCH, 'STATIC_IP': TEXT, 'STATIC_MASK': TEXT,
        'STATIC_GW': TEXT, 'STATIC_DNS1': TEXT, 'STATIC_DNS2': TEXT,
    },
    'camera': {
        'SWITCH_ON': SWITCH, 'SAVE_VIDEO_ON_MOTION': SWITCH, 'MOTION_DETECTION': SWITCH,
        'SENSITIVITY': ('low', 'medium', 'high'), 'AI_HUMAN_DETECTION': SWITCH,
        'AI_VEHICLE_DETECTION': SWITCH, 'AI_ANIMAL_DETECTION': SWITCH, 'FACE_DETECTION': SWITCH,
        'BABY_CRYING_DETECT': SWITCH, 'LED': SWITCH, 'ROTATE': SWITCH, 'IR': SWITCH,
        'SOUND_DETECTION': SWITCH, 'SOUND_SENSITIVITY': (30, 90), 'MOTION_TRACKING': SWITCH,
        'CRUISE': ('no', 'presets', '360'),
    },
    'ptz': {
        'MOVE': ('right', 'left', 'down', 'up', 'stop'), 'GOTO_PRESET': (0, 7), 'ADD_PRESET': TEXT,
        'SET_HOME_POSITION': TEXT, 'REMOVE_PRESET': (0, 7),
        'PTZ_PRESET': (0, 7),   # mqtt_set_config.sh's ptz_preset: ipc_cmd -p N
    },
}


def validated(file, param, value):
    """value as the table takes it for FILE's PARAM (a switch as yes/no); Refused saying why."""
    kind = VALIDATE.get(file, {}).get(param)
    if kind is None:
        raise Refused('%s has no setting %s' % (file, shown(param)))
    if kind == SWITCH:
        if value not in ON_OFF:
            raise Refused('%s must be yes, no, on or off' % param)
        return ON_OFF[value]
    if kind in (TEXT, RULE):
        return value
    if isinstance(kind[0], int):
        if number(value, kind[0], kind[1]) is None:
            raise Refused('%s must be a number from %d to %d' % (param, kind[0], kind[1]))
        return value
    if value not in kind:
        raise Refused('%s must be one of %s' % (param, ', '.join(kind)))
    return value


class CameraLink:
    """What the shared rules send and wait with (camera_rules, ptz_rules): the bridge's `ctx`."""

    def __init__(self, loop, options, log):
        self.loop = loop
        self.log = log
        self.ipc = CommandQueue(options.ipc_queue)
        self.settings_sending = 0
        self.ptz_move = None
        self.tmp_dir = options.tmp_dir
        self.root = options.root
        self.etc = options.root + '/yi-hack/etc'
        self.tool = options.ipc_cmd or options.root + '/yi-hack/bin/ipc_cmd'
        self.homever = options.homever

    def home_version(self):
        return device.homever(self.homever)[:2]


class SettingsCommands:
    """The broker's messages on the command topics, each through its rule."""

    def __init__(self, bridge, settings, camera, advertiser, options, log):
        self.bridge = bridge
        self.settings = settings
        self.camera = camera
        self.advertiser = advertiser
        self.log = log
        self.cmnd = settings.prefix + '/cmnd/'
        self.set_prefix = None
        bridge.subscriptions.append((self.cmnd + '#', settings.qos))
        group = settings.group('MQTT_ADV_CAMERA_SETTING')
        if group['ENABLE'] == 'yes':
            self.set_prefix = settings.prefix + '/' + group['TOPIC'] + '/'
            bridge.subscriptions.append((self.set_prefix + '+/set', 0))
        bridge.on_message = self.on_message

    def on_message(self, topic, payload, retain):
        try:
            if payload is None or len(payload) > MAX_VALUE:
                raise Refused('the value is longer than %d bytes' % MAX_VALUE)
            value = decode_utf8(payload)
            if topic.startswith(self.cmnd):
                self.command(topic[len(self.cmnd):], value)
            elif self.set_prefix and topic.startswith(self.set_prefix) and topic.endswith('/set'):
                key = topic[len(self.set_prefix):-len('/set')]
                self.change('camera', key.upper(), value.split(' ')[0] if value else value)
                self.advertiser.camera_settings()
        except (Refused, UnicodeError, OSError) as err:
            self.log('refused %s %s: %s' % (topic, shown(payload.decode('latin-1') if payload else ''),
                                           getattr(err, 'message', err)))

    def command(self, rest, value):
        file, slash, param = rest.partition('/')
        if not file:
            return
        if not slash:
            if not value:
                self.advertiser.publish_conf(file.lower())
            return
        if not param or not value:
            raise Refused('no setting or no value')
        self.change(file.lower(), param.upper(), value)

    def change(self, file, param, value):
        value = validated(file, param, value)
        camera = self.camera
        if file == 'system':
            from . import conf_rules
            written = conf_rules.write_changes(camera.etc + '/system.conf',
                                               conf_rules.checked_changes({param: value}))
            if not written:
                raise Refused('system.conf has no %s' % param)
        elif file == 'camera':
            self.change_camera(param.lower(), value)
        else:
            self.change_ptz(param, value)
        self.log('%s %s set to %s' % (file, param, shown(value)))

    def change_camera(self, name, value):
        from . import camera_rules
        camera = self.camera
        row = camera_rules.row(name)
        if value not in row[1]:
            raise Refused('%s must be one of %s' % (name.upper(), ', '.join(row[1])))
        if camera_rules.is_busy(camera):
            raise Refused('busy: %d camera setting changes under way' % camera_rules.MAX_SENDING)
        camera_rules.change_settings(camera, camera.etc + '/' + camera_rules.CAMERA_CONF,
                                     [(name, value)], camera.home_version(), self.done(name))

    def change_ptz(self, param, value):
        from . import ptz_rules
        camera = self.camera
        path = camera.etc + '/' + ptz_rules.PRESETS_CONF
        if param == 'MOVE' and value == 'stop':
            ptz_rules.stop_running_move(camera)
            camera.ipc.send(ipc.ptz_stop())
        elif param == 'MOVE':
            ptz_rules.PtzMove(camera, (value,), ptz_rules.PTZ_DEFAULT_TIME, device.model_suffix(camera.root),
                              self.done(param)).start()
        elif param in ('GOTO_PRESET', 'PTZ_PRESET'):
            camera.ipc.send(ipc.go_preset(int(value)))
        elif param == 'ADD_PRESET':
            ptz_rules.add_preset(camera, path, value, -1, camera.tool, self.done(param))
        elif param == 'REMOVE_PRESET':
            ptz_rules.del_presets(camera, path, [int(value)])
        else:
            ptz_rules.set_home_position(camera, path, self.done(param))

    def done(self, what):
        def done(err, interrupted=False):
            if err is not None:
                self.log('%s not done: %s' % (what, getattr(err, 'message', err)))
        return done
