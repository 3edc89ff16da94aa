"""Camera messages read from the copy queue, turned into MQTT messages as
the firmware's mqttv4 does (mqttv4.c), message by message:

- motion start, AI human (both message forms), vehicle, animal and baby
  crying: their *_MSG on TOPIC_MOTION (MQTT_RETAIN_MOTION), then the
  motion image: the frame grabber run MOTION_IMAGE_DELAY later, its JPEG on
  TOPIC_MOTION_IMAGE (MQTT_RETAIN_MOTION_IMAGE);
- motion stop: MOTION_STOP_MSG on TOPIC_MOTION, and --files-delay (70 s)
  later the event's videos on TOPIC_MOTION_FILES (mqtt_files.py); up to
  FILE_SLOTS events are followed at once, as mqttv4's three threads;
- sound: SOUND_DETECTION_MSG on TOPIC_SOUND_DETECTION;
- a camera setting command (from the web page, ipc_cmd, the Yi app):
  camera.conf updated and the value on PREFIX/stat/camera/KEY, retained;
  motion detection on turns the three AI detections off, and an AI one
  on turns motion detection off, as mqttv4 echoes them.
All at MQTT_QOS. Anything else is ignored. The files and the grabber's
code is imported when first needed (the camera's heap is small).
"""
import time

from . import conf, files, ipc, ipc_settings, device

FILE_SLOTS = 3              # motion events followed at once for their files (mqttv4's threads)
GRABBER_TIMEOUT = 5.0       # seconds the frame grabber may take
GRAB_RETRY = 0.1            # seconds before a grab waiting for the previous one looks again
MAX_IMAGES = 4              # motion images waiting for the grabber at most; more are dropped
MAX_IMAGE = 1048576         # bytes of a grabbed image published at most (a high-res JPEG is ~200 KB)
AI_SETTINGS = ('ai_human_detection', 'ai_vehicle_detection', 'ai_animal_detection')

# event name -> message key; all on TOPIC_MOTION but sound
STARTS = {'motion_start': 'MOTION_START_MSG', 'ai_human_detected': 'AI_HUMAN_DETECTION_MSG',
          'ai_vehicle_detected': 'AI_VEHICLE_DETECTION_MSG',
          'ai_animal_detected': 'AI_ANIMAL_DETECTION_MSG', 'baby_crying': 'BABY_CRYING_MSG'}


class Slot:
    """One motion event followed for its files: free, waiting for its stop, or listing."""

    def __init__(self):
        self.start = None
        self.waiting = False


class EventPublisher:
    def __init__(self, bridge, settings, camera, options, log):
        self.bridge = bridge
        self.settings = settings
        self.log = log
        self.root = options.root
        self.tmp_dir = options.tmp_dir
        self.files_delay = options.files_delay
        self.grabber = options.grabber or options.root + '/yi-hack/bin/imggrabber'
        self.camera_conf = options.root + '/yi-hack/etc/camera.conf'
        self.homever = options.homever
        self.slots = [Slot() for _ in range(FILE_SLOTS)]
        self.images = 0          # image grabs asked and not yet published
        self.grabbing = None
        self.grabs = 0

    def on_message(self, message):
        name = ipc.event_name(message)
        if name is not None:
            self.on_event(name)
            return
        setting = ipc_settings.setting_of(message)
        if setting is not None:
            self.on_setting(setting[0], setting[1])

    def on_event(self, name):
        s = self.settings
        if name == 'sound_detected':
            self.bridge.publish(s.topic('TOPIC_SOUND_DETECTION'), s.program('SOUND_DETECTION_MSG'),
                                s.retain('MQTT_RETAIN_SOUND_DETECTION'))
            return
        if name == 'motion_stop':
            self.bridge.publish(s.topic('TOPIC_MOTION'), s.program('MOTION_STOP_MSG'), s.retain('MQTT_RETAIN_MOTION'))
            self.event_stopped()
            return
        self.event_started()
        self.bridge.publish(s.topic('TOPIC_MOTION'), s.program(STARTS[name]), s.retain('MQTT_RETAIN_MOTION'))
        if s.topic('TOPIC_MOTION_IMAGE') is not None:
            self.ask_image()

    # -- the motion files ------------------------------------------------------

    def event_started(self):
        for slot in self.slots:
            if slot.start is None:
                slot.start = int(time.time())
                slot.waiting = True
                return

    def event_stopped(self):
        for slot in self.slots:
            if slot.waiting:
                slot.waiting = False
                self.bridge.loop.call_later(self.files_delay, self.send_files, slot, int(time.time()))
                return

    def send_files(self, slot, stop):
        from . import mqtt_files
        s = self.settings
        local = mqtt_files.local_folders(device.homever(self.homever), device.model_suffix(self.root))
        text = mqtt_files.files_message(self.root + '/record', slot.start, stop, local)
        slot.start = None
        self.bridge.publish(s.topic('TOPIC_MOTION_FILES'), text, s.retain('MQTT_RETAIN_MOTION_FILES'))

    # -- the motion image ------------------------------------------------------

    def ask_image(self):
        if self.images >= MAX_IMAGES:
            self.log('motion image dropped: %d already wait for the grabber' % MAX_IMAGES)
            return
        self.images += 1
        self.bridge.loop.call_later(self.settings.image_delay, self.grab)

    def grab(self):
        """Run the grabber as mqttv4 does (imggrabber -m MODEL -r high -w), one at a time."""
        from .child import Background
        if self.grabbing is not None:
            self.bridge.loop.call_later(GRAB_RETRY, self.grab)
            return
        self.grabs += 1
        out = files.temp_path(self.tmp_dir, 'motion-image', self.grabs)
        files.remove_if_there(out)
        argv = [self.grabber, '-m', device.model_suffix(self.root) or '', '-r', 'high', '-w']
        try:
            self.grabbing = Background(self.bridge.loop, argv, GRABBER_TIMEOUT,
                                       lambda status: self.grabbed(status, out), self.tmp_dir, out)
        except OSError as err:
            self.images -= 1
            self.log('motion image: cannot run %s: %s' % (self.grabber, err))

    def grabbed(self, status, out):
        self.grabbing = None
        self.images -= 1
        s = self.settings
        st = files.stat(out)
        size = 0 if st is None else files.stat_size(st)
        if status != 0 or not size or size > MAX_IMAGE:
            self.log('motion image: the grabber gave status %s and %d bytes' % (status, size))
        else:
            with open(out, 'rb') as f:
                self.bridge.publish(s.topic('TOPIC_MOTION_IMAGE'), f, s.retain('MQTT_RETAIN_MOTION_IMAGE'),
                                    size=size)
        files.remove_if_there(out)

    # -- settings seen on the queue --------------------------------------------

    def on_setting(self, key, value, echoing=True):
        """camera.conf and PREFIX/stat/camera/KEY follow a setting the camera was sent."""
        s = self.settings
        try:
            if not conf.update_conf(self.camera_conf, {key.upper(): value}):
                self.log('camera.conf has no %s: not updated' % key.upper())
        except (OSError, ValueError) as err:
            self.log('camera.conf not updated: %s' % err)
        self.bridge.publish(s.stat_topic('camera', key), value, True)
        if not echoing or value != 'yes':
            return
        if key == 'motion_detection':
            for ai in AI_SETTINGS:
                self.on_setting(ai, 'no', False)
        elif key in AI_SETTINGS:
            self.on_setting('motion_detection', 'no', False)
