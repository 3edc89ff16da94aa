"""Which camera setting a command seen on an /ipc_dispatch_N copy queue sets,
as the firmware's mqttv4 reads them to keep camera.conf and its
PREFIX/stat/camera/KEY topics in step with the camera (docs/IPC.md).

The table is made from ipc.py's own command builders, so the bytes are
the catalogue's; it is made on first use (only the MQTT bridge needs it).
"""
from .ipc import (CRUISE_MODES, HEADER_SIZE, SENSITIVITY, SOUND_LEVELS, ai_animal, ai_human,
                  ai_motion, ai_vehicle, baby_crying_detection, cruise, cruise_mode, face_detection,
                  ir, led, motion_tracking, rotate, save_on_motion, sensitivity, sound_detection,
                  sound_sensitivity, switch)

_settings = {}    # command bytes -> (camera.conf key in lower case, value), made on first use


def _setting_table():
    yes_no = lambda key, builder: [(key, 'yes', builder(True)), (key, 'no', builder(False))]
    rows = yes_no('switch_on', switch) + yes_no('save_video_on_motion', save_on_motion)
    rows += yes_no('motion_detection', ai_motion)
    rows += [('sensitivity', level, sensitivity(level)) for level in SENSITIVITY]
    for key, builder in (('ai_human_detection', ai_human), ('ai_vehicle_detection', ai_vehicle),
                         ('ai_animal_detection', ai_animal), ('face_detection', face_detection),
                         ('motion_tracking', motion_tracking),
                         ('baby_crying_detect', baby_crying_detection),
                         ('sound_detection', sound_detection), ('led', led), ('ir', ir),
                         ('rotate', rotate), ('cruise', cruise)):
        rows += yes_no(key, builder)
    rows += [('sound_sensitivity', level, sound_sensitivity(level)) for level in SOUND_LEVELS]
    rows += [('cruise', mode, cruise_mode(mode)) for mode in CRUISE_MODES]
    for key, value, message in rows:
        _settings[message] = (key, value)


def setting_of(message):
    """(key, value) of the camera setting a command read from /ipc_dispatch_N sets, or None.

    The key is camera.conf's in lower case, the value as the firmware's
    mqttv4 writes it (yes/no, low/medium/high, 30..90, presets/360). A
    command is recognised by its whole length (16, 20 or 24 bytes); more
    bytes after it are ignored, as mqttv4 does.
    """
    if not _settings:
        _setting_table()
    try:
        for size in (HEADER_SIZE, HEADER_SIZE + 4, HEADER_SIZE + 8):
            if len(message) >= size:
                found = _settings.get(bytes(message[:size]))
                if found is not None:
                    return found
    except (TypeError, ValueError):
        pass
    return None
