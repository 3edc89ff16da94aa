/* yihttpd web page: one page, one section per hash route, vanilla JS.
 * Everything that comes from the camera is inserted with textContent,
 * never as HTML. Every action shows progress, then the outcome in words. */
'use strict';

// The longest answer: a 10 s PTZ move, or the camera settings spaced 0.5 s apart.
const REQUEST_TIMEOUT_MS = 30000;
// status.json is refreshed this often while Status is shown.
const STATUS_REFRESH_MS = 10000;
// Snapshot auto-refresh pause between the end of one image and the next request.
const SNAPSHOT_REFRESH_MS = 3000;
// Hour directories drawn at once; "Show more" adds as many again (a month is 720).
const DIRS_PAGE = 48;
const PTZ_PRESETS = 16;   // preset.sh takes 0-15
const SERVICE_MISSING = 'this camera does not offer that service';

const $ = (id) => document.getElementById(id);

/* Build an element; props go to properties, children are nodes or text. */
function el(tag, props, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, props || {});
  for (const child of children) {
    node.append(child);
  }
  return node;
}

/* ---------- talking to the camera ---------- */

function describeFailure(status, body) {
  const message = body && typeof body.message === 'string' ? body.message : '';
  if (status === 401) return 'login needed: reload the page';
  if (status === 404 && (!message || message === 'no such service')) return SERVICE_MISSING;
  if (message) return message;
  if (status >= 200 && status < 300) return 'the camera answered an error';
  return 'the camera answered HTTP ' + status;
}

/* The camera's address for a path. Absolute, because a page opened as
 * http://user:password@camera/ resolves relative URLs with the credentials
 * in them, and the browser refuses such requests; location.origin has none
 * (the browser still sends the login it was given). */
function at(path) {
  return location.origin + path;
}

/* fetch with a deadline; answers {res, body} where body is parsed as asked.
 * Throws an Error whose message is meant for people. */
async function call(path, options, as) {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), REQUEST_TIMEOUT_MS);
  try {
    const res = await fetch(at(path), Object.assign({cache: 'no-store', signal: abort.signal}, options || {}));
    if ((as === 'blob' || as === 'text') && res.ok) {
      return {res, body: await res[as]()};
    }
    let body = null;
    try {
      body = await res.json();
    } catch (err) {
      if (err.name === 'AbortError') throw err;
    }
    if (!res.ok || !body || body.error === 'true') {
      throw new Error(describeFailure(res.status, body));
    }
    return {res, body};
  } catch (err) {
    if (err.name === 'AbortError') throw new Error('no answer from the camera in time');
    if (err instanceof TypeError) throw new Error('the camera cannot be reached');
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

async function getJson(path, options) {
  return (await call(path, options)).body;
}

/* load.sh and fw_upgrade.sh?get=upgrade answer the firmware's text, not JSON. */
async function getText(path, options) {
  return (await call(path, options, 'text')).body;
}

function query(params) {
  return Object.keys(params).map((k) => k + '=' + encodeURIComponent(params[k])).join('&');
}

/* ---------- progress and outcome ---------- */

/* state: 'busy' (spinner), 'ok' or 'fail'; the text says what happened. */
function show(out, state, text) {
  out.dataset.state = state;
  out.textContent = text;
}

/* Run one action: disable its button, show progress, then the outcome.
 * Answers the result, or null when it failed (already shown). */
async function act(button, out, busy, done, work) {
  if (button) button.disabled = true;
  show(out, 'busy', busy);
  try {
    const result = await work();
    show(out, 'ok', typeof done === 'function' ? done(result) : done);
    return result;
  } catch (err) {
    show(out, 'fail', 'Failed: ' + err.message);
    return null;
  } finally {
    if (button) button.disabled = false;
  }
}

/* A modal question; resolves true when the person agrees. */
function confirmAction(text, okLabel) {
  const dialog = $('confirm');
  $('confirm-text').textContent = text;
  $('confirm-ok').textContent = okLabel;
  dialog.returnValue = '';
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), {once: true});
  });
}

/* ---------- sections and routing ---------- */

const sections = {};

function route() {
  const name = location.hash.slice(1);
  const current = sections[name] ? name : 'status';
  for (const key of Object.keys(sections)) {
    const active = key === current;
    const section = $('section-' + key);
    if (active !== !section.hidden) {
      section.hidden = !active;
      if (active) window.scrollTo(0, 0);
      if (!active && sections[key].leave) sections[key].leave();
    }
  }
  for (const link of document.querySelectorAll('nav a')) {
    if (link.hash === '#' + current) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  sections[current].enter();
}

/* ---------- Status ---------- */

const STATUS_LABELS = [
  ['hostname', 'Hostname'], ['name', 'Firmware family'], ['fw_version', 'yi-hack version'],
  ['home_version', 'Home version'], ['model_suffix', 'Model'], ['serial_number', 'Serial number'],
  ['ptz', 'Pan and tilt'], ['local_time', 'Local time'], ['uptime', 'Up for'],
  ['load_avg', 'Load average'], ['local_ip', 'IP address'], ['netmask', 'Netmask'],
  ['gateway', 'Gateway'], ['mac_addr', 'MAC address'], ['wlan_essid', 'Wi-Fi network'],
  ['wlan_strength', 'Wi-Fi signal'],
];

let cameraStatus = null;   // the last status.json, for the name and PTZ

function duration(seconds) {
  const s = Math.floor(Number(seconds));
  if (!isFinite(s)) return String(seconds);
  const d = Math.floor(s / 86400);
  const h = Math.floor(s % 86400 / 3600);
  const m = Math.floor(s % 3600 / 60);
  return (d ? d + ' d ' : '') + (d || h ? h + ' h ' : '') + m + ' min';
}

function fillFields(list, pairs) {
  list.replaceChildren();
  for (const [label, value] of pairs) {
    list.append(el('dt', {textContent: label}), el('dd', {textContent: value}));
  }
}

function showMemory(status) {
  const total = Number(status.total_memory);
  const free = Number(status.free_memory);
  const meter = $('status-memory');
  if (total > 0 && free >= 0) {
    meter.max = total;
    meter.value = Math.max(0, total - free);
    $('status-memory-text').textContent =
      Math.round((total - free) / 1024) + ' of ' + Math.round(total / 1024) + ' MB';
  } else {
    meter.value = 0;
    $('status-memory-text').textContent = 'N/A';
  }
  const freeSd = parseInt(status.free_sd, 10);   // "87%"
  $('status-sd').value = isFinite(freeSd) ? 100 - freeSd : 0;
  $('status-sd-text').textContent = isFinite(freeSd) ? (100 - freeSd) + '% (' + status.free_sd + ' free)' : 'N/A';
}

function applyStatus(status) {
  cameraStatus = status;
  const name = typeof status.hostname === 'string' && status.hostname !== 'N/A' ? status.hostname : 'yi-hack';
  $('camera-name').textContent = name;
  document.title = name + ' · yi-hack';
  $('ptz-none').hidden = status.ptz !== 'no';
}

async function loadStatus() {
  if ($('status-out').dataset.state === 'busy') return;   // a slow answer is still awaited
  const status = await act(null, $('status-out'), 'Loading…', () => 'Updated ' + new Date().toLocaleTimeString(),
    () => getJson('/cgi-bin/status.json'));
  if (!status) return;
  applyStatus(status);
  showMemory(status);
  fillFields($('status-fields'), STATUS_LABELS.map(([key, label]) =>
    [label, key === 'uptime' && status[key] !== 'N/A' ? duration(status[key]) : String(status[key] ?? 'N/A')]));
}

let statusTimer = null;

sections.status = {
  enter() {
    loadStatus();
    clearInterval(statusTimer);
    statusTimer = setInterval(loadStatus, STATUS_REFRESH_MS);
  },
  leave() {
    clearInterval(statusTimer);
  },
};

/* ---------- Camera ---------- */

const CAMERA_LABELS = {
  switch_on: 'Camera', save_video_on_motion: 'Save video', sensitivity: 'Motion sensitivity',
  led: 'Status LED', ir: 'IR night vision', rotate: 'Rotate image',
};

function controlValue(control) {
  return control.type === 'checkbox' ? (control.checked ? 'yes' : 'no') : control.value;
}

function setControl(control, value) {
  if (control.type === 'checkbox') control.checked = value === 'yes';
  else control.value = value;
}

const cameraValues = {};   // what the camera has now, to undo a failed change

sections.camera = {
  async enter() {
    const form = $('camera-form');
    form.inert = true;
    const conf = await act(null, $('camera-out'), 'Loading…', 'Current settings loaded',
      () => getJson('/cgi-bin/get_configs.sh?conf=camera'));
    if (!conf) return;
    for (const key of Object.keys(CAMERA_LABELS)) {
      const value = conf[key.toUpperCase()];
      if (typeof value === 'string') {
        cameraValues[key] = value;
        setControl(form.elements[key], value);
      }
    }
    form.inert = false;
  },
};

$('camera-form').addEventListener('change', async (event) => {
  const control = event.target;
  const key = control.name;
  const value = controlValue(control);
  control.disabled = true;
  const label = CAMERA_LABELS[key];
  const done = await act(null, $('camera-out'), 'Applying ' + label + '…', label + ': saved and sent',
    () => getJson('/cgi-bin/camera_settings.sh?' + query({[key]: value})));
  if (done) cameraValues[key] = value;
  else if (key in cameraValues) setControl(control, cameraValues[key]);
  control.disabled = false;
});

/* ---------- config forms (Settings and MQTT) ---------- */

/* Field kinds: how a KEY=VALUE is edited and checked before it is sent.
 * The server refuses newlines and NUL in any value; the checks here are
 * the same or stricter, so a form that passes is never refused. */
const YES_NO = ['yes', 'no'];
const ONE_ZERO = ['1', '0'];
const PORT = {type: 'number', min: 1, max: 65535, step: 1, required: true};

function field(label, kind, extra) {
  return Object.assign({label, kind}, extra || {});
}

const SYSTEM_GROUPS = [
  ['Camera name and time', {
    HOSTNAME: field('Hostname', 'text', {pattern: '([A-Za-z0-9_.][A-Za-z0-9_.\\-]{0,62})?',
      title: 'up to 63 letters, digits, -, _ and ., not starting with -; empty: yi- and the MAC'}),
    TIMEZONE: field('Time zone (POSIX TZ)', 'text'),
    NTPD: field('Set the time by NTP', 'toggle', {values: YES_NO}),
    NTP_SERVER: field('NTP server', 'text'),
  }],
  ['Access', {
    USERNAME: field('Web user name', 'text', {autocomplete: 'username'}),
    PASSWORD: field('Web password', 'secret'),
    HTTPD: field('Web server (this page) at boot', 'toggle', {values: YES_NO}),
    HTTPD_PORT: field('Web port', 'number', PORT),
    HTTPD_ALLOW_HOST: field('More names this camera is reached by (for settings and changes)', 'text', {
      pattern: '(\\*|[A-Za-z0-9_.\\-]+( *, *[A-Za-z0-9_.\\-]+)*)?',
      title: 'names, comma-separated (a DNS name of your own, a proxy\'s); * takes any name'}),
    SSHD: field('SSH server', 'toggle', {values: YES_NO}),
    SSH_PASSWORD: field('SSH root password', 'secret'),
    TELNETD: field('Telnet server', 'toggle', {values: YES_NO}),
    FTPD: field('FTP server', 'toggle', {values: YES_NO}),
    BUSYBOX_FTPD: field('Use busybox FTP server', 'toggle', {values: YES_NO}),
  }],
  ['Streaming', {
    RTSP: field('RTSP server', 'toggle', {values: YES_NO}),
    RTSP_STREAM: field('RTSP stream', 'choice', {options: ['low', 'high', 'both']}),
    RTSP_AUDIO: field('RTSP audio', 'choice', {options: ['no', 'yes', 'alaw', 'ulaw', 'pcm', 'aac']}),
    RTSP_PORT: field('RTSP port', 'number', PORT),
    ONVIF: field('ONVIF server', 'toggle', {values: YES_NO}),
    ONVIF_PROFILE: field('ONVIF profile', 'choice', {options: ['low', 'high', 'both']}),
    ONVIF_PORT: field('ONVIF port', 'number', PORT),
    ONVIF_WSDD: field('ONVIF discovery (WS-Discovery)', 'toggle', {values: YES_NO}),
    ONVIF_NETIF: field('ONVIF network interface', 'text', {pattern: '[A-Za-z0-9._\\-]{1,15}'}),
  }],
  ['Cloud and recording', {
    DISABLE_CLOUD: field('Disable the cloud', 'toggle', {values: YES_NO}),
    REC_WITHOUT_CLOUD: field('Record without the cloud', 'toggle', {values: YES_NO}),
    FREE_SPACE: field('Keep this % of the SD card free (0: off)', 'number', {min: 0, max: 99, step: 1, required: true}),
    FTP_UPLOAD: field('Upload videos by FTP', 'toggle', {values: YES_NO}),
    MQTT: field('MQTT: events and settings through a broker', 'toggle', {values: YES_NO}),
  }],
];

/* mqttv4.conf: the keys of the firmware's MQTT programs, which yihttpd's bridge reads the same way. */
const MQTT_GROUPS = [
  ['Which MQTT runs', {
    YIHTTPD_MQTT: field("yihttpd's bridge instead of the firmware's mqttv4, mqtt-config and mqtt_advertise " +
      '(from the next start of yihttpd)', 'toggle', {values: YES_NO}),
  }],
  ['Broker', {
    MQTT_IP: field('Broker address', 'text', {pattern: '[A-Za-z0-9.:_\\-]{0,253}'}),
    MQTT_PORT: field('Broker port', 'number', PORT),
    MQTT_TLS: field('TLS (etc/mqtt/ca.crt; client.crt and client.key if there)', 'toggle', {values: ONE_ZERO}),
    MQTT_CLIENT_ID: field('Client id', 'text'),
    MQTT_USER: field('User', 'text', {autocomplete: 'off'}),
    MQTT_PASSWORD: field('Password', 'secret'),
    MQTT_KEEPALIVE: field('Keepalive (seconds)', 'number', {min: 0, max: 65535, step: 1, required: true}),
    MQTT_QOS: field('QoS', 'choice', {options: ['0', '1', '2']}),
  }],
  ['Topics and messages', {
    MQTT_PREFIX: field('Topic prefix', 'text'),
    TOPIC_BIRTH_WILL: field('Birth and will topic', 'text'),
    BIRTH_MSG: field('Birth message', 'text'),
    WILL_MSG: field('Will message', 'text'),
    MQTT_RETAIN_BIRTH_WILL: field('Retain birth and will', 'toggle', {values: ONE_ZERO}),
    TOPIC_MOTION: field('Motion topic (motion, AI and baby crying)', 'text'),
    MOTION_START_MSG: field('Motion start message', 'text'),
    MOTION_STOP_MSG: field('Motion stop message', 'text'),
    AI_HUMAN_DETECTION_MSG: field('Person detected message', 'text'),
    AI_VEHICLE_DETECTION_MSG: field('Vehicle detected message', 'text'),
    AI_ANIMAL_DETECTION_MSG: field('Animal detected message', 'text'),
    BABY_CRYING_MSG: field('Baby crying message', 'text'),
    MQTT_RETAIN_MOTION: field('Retain motion messages', 'toggle', {values: ONE_ZERO}),
  }],
  ['Image, files and sound', {
    TOPIC_MOTION_IMAGE: field('Motion image topic', 'text'),
    MOTION_IMAGE_DELAY: field('Seconds before the image is taken', 'text', {pattern: '[0-5]([.,][0-9]{1,4})?'}),
    MQTT_RETAIN_MOTION_IMAGE: field('Retain the motion image', 'toggle', {values: ONE_ZERO}),
    TOPIC_MOTION_FILES: field('Motion files topic', 'text'),
    MQTT_RETAIN_MOTION_FILES: field('Retain the motion files', 'toggle', {values: ONE_ZERO}),
    TOPIC_SOUND_DETECTION: field('Sound topic', 'text'),
    SOUND_DETECTION_MSG: field('Sound message', 'text'),
    MQTT_RETAIN_SOUND_DETECTION: field('Retain sound messages', 'toggle', {values: ONE_ZERO}),
  }],
];

/* One input for one config value; its name is the KEY. */
function fieldInput(key, spec, value) {
  if (spec.kind === 'toggle') {
    const box = el('input', {type: 'checkbox', name: key, checked: value === spec.values[0]});
    box.dataset.on = spec.values[0];
    box.dataset.off = spec.values[1];
    return el('label', {className: 'switch'}, box, ' ' + spec.label);
  }
  let input;
  if (spec.kind === 'choice') {
    input = el('select', {name: key});
    const options = spec.options.includes(value) ? spec.options : spec.options.concat([value]);
    for (const option of options) input.append(el('option', {value: option, textContent: option}));
    input.value = value;
  } else {
    input = el('input', {name: key, value: value, type: spec.kind === 'secret' ? 'password' : spec.kind,
      autocomplete: spec.kind === 'secret' ? 'new-password' : 'off'});
    for (const attr of ['pattern', 'min', 'max', 'step', 'required', 'title', 'autocomplete']) {
      if (attr in spec) input[attr] = spec[attr];
    }
  }
  return el('label', {}, spec.label + ' ', input);
}

function fieldValue(input) {
  return input.type === 'checkbox' ? (input.checked ? input.dataset.on : input.dataset.off) : input.value;
}

/* Draw a config as grouped fields; keys not in any group go under "Other". */
function buildConfigForm(form, groups, conf) {
  form.replaceChildren();
  const known = new Set();
  const add = (title, entries) => {
    const fieldset = el('fieldset', {}, el('legend', {textContent: title}));
    for (const [key, spec] of entries) {
      if (typeof conf[key] === 'string') fieldset.append(fieldInput(key, spec, conf[key]));
    }
    if (fieldset.children.length > 1) form.append(fieldset);
  };
  for (const [title, fields] of groups) {
    Object.keys(fields).forEach((key) => known.add(key));
    add(title, Object.entries(fields));
  }
  add('Other', Object.keys(conf).filter((key) => !known.has(key) && /^[A-Z0-9_]+$/.test(key))
    .sort().map((key) => [key, field(key, 'text')]));
  form.dataset.loaded = JSON.stringify(conf);
}

/* The changed values, or null when a field does not pass its check. */
function changedValues(form) {
  if (!form.reportValidity()) return null;
  const before = JSON.parse(form.dataset.loaded || '{}');
  const changes = {};
  for (const input of form.querySelectorAll('[name]')) {
    const value = fieldValue(input);
    if (/[\n\r\0]/.test(value)) {
      input.setCustomValidity('no line breaks');
      input.reportValidity();
      input.setCustomValidity('');
      return null;
    }
    if (value !== before[input.name]) changes[input.name] = value;
  }
  return changes;
}

/* A Settings-like section: load CONF into FORM, save the changes back. */
function configSection(conf, form, out, groups) {
  const load = async () => {
    const values = await act(null, out, 'Loading…', 'Current settings loaded',
      () => getJson('/cgi-bin/get_configs.sh?conf=' + conf));
    if (values) buildConfigForm(form, groups, values);
  };
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const changes = changedValues(form);
    if (changes === null) {
      show(out, 'fail', 'Not saved: a field needs fixing');
      return;
    }
    if (!Object.keys(changes).length) {
      show(out, 'ok', 'Nothing changed');
      return;
    }
    const saved = await act(event.submitter, out, 'Saving…', 'Saved', () => getJson(
      '/cgi-bin/set_configs.sh?conf=' + conf,
      {method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify(changes)}));
    if (saved) {
      const loaded = Object.assign(JSON.parse(form.dataset.loaded), changes);
      form.dataset.loaded = JSON.stringify(loaded);
    }
  });
  return load;
}

sections.settings = {enter: configSection('system', $('settings-form'), $('settings-out'), SYSTEM_GROUPS)};

/* ---------- services (MQTT bridge and Maintenance) ---------- */

function serviceUrl(name, action, params) {
  return '/cgi-bin/service.sh?' + query(Object.assign({name, action}, params || {}));
}

/* A service's state; for mqtt also which program runs (yihttpd.mqtt or the firmware's mqttv4). */
async function serviceState(name, stateNode, programNode) {
  let state = {};
  try {
    state = await getJson(serviceUrl(name, 'status'));
    stateNode.textContent = state.status || 'unknown';
  } catch (err) {
    stateNode.textContent = err.message === SERVICE_MISSING ? 'not available' : 'unknown';
  }
  if (programNode) programNode.textContent = MQTT_PROGRAMS[state.program] || '';
}

const MQTT_PROGRAMS = {'yihttpd.mqtt': "yihttpd's bridge", mqttv4: "the firmware's mqttv4"};

/* Start or stop a service, then show its state again. */
async function runService(button, out, name, action, params, stateNode, programNode) {
  await act(button, out, (action === 'start' ? 'Starting ' : 'Stopping ') + name + '…',
    name + (action === 'start' ? ' started' : ' stopped'),
    () => getJson(serviceUrl(name, action, params)));
  await serviceState(name, stateNode, programNode);
}

const loadMqttForm = configSection('mqtt', $('mqtt-form'), $('mqtt-out'), MQTT_GROUPS);
sections.mqtt = {
  enter() {
    loadMqttForm();
    serviceState('mqtt', $('mqtt-state'), $('mqtt-program'));
  },
};
for (const action of ['start', 'stop']) {
  $('mqtt-' + action).addEventListener('click', (event) => runService(
    event.currentTarget, $('mqtt-service-out'), 'mqtt', action, null, $('mqtt-state'), $('mqtt-program')));
}

/* ---------- Events ---------- */

let eventDirs = [];        // [{dirname, datetime}] newest first
let dirsShown = 0;
let openDir = null;

function recordUrl(dir, file) {
  return at('/record/') + encodeURIComponent(dir) + '/' + encodeURIComponent(file);
}

function dirLabel(entry) {
  // "Date: 2020-01-01 Time: 01:00" -> "2020-01-01 01:00"
  return String(entry.datetime).replace('Date: ', '').replace(' Time:', '');
}

function drawMoreDirs() {
  const list = $('events-dirs');
  const end = Math.min(eventDirs.length, dirsShown + DIRS_PAGE);
  for (; dirsShown < end; dirsShown++) {
    const entry = eventDirs[dirsShown];
    const open = el('button', {type: 'button', className: 'link', textContent: dirLabel(entry)});
    open.addEventListener('click', () => openEvents(entry));
    const item = el('li', {}, open);
    item.dataset.dir = entry.dirname;
    list.append(item);
  }
  $('events-more').hidden = dirsShown >= eventDirs.length;
}

async function loadEventDirs() {
  const answer = await act($('events-refresh'), $('events-out'), 'Loading…',
    (a) => (a.records || []).length ? a.records.length + ' hours with recordings' : 'No recordings yet',
    () => getJson('/cgi-bin/eventsdir.sh'));
  if (!answer) return;
  eventDirs = Array.isArray(answer.records) ? answer.records : [];
  dirsShown = 0;
  $('events-dirs').replaceChildren();
  drawMoreDirs();
  if (openDir && !eventDirs.some((entry) => entry.dirname === openDir.dirname)) closeEvents();
}

function stopVideo() {
  const video = $('events-video');
  video.pause();
  video.onerror = null;
  video.removeAttribute('src');
  video.load();
  video.hidden = true;
}

function closeEvents() {
  openDir = null;
  $('events-files-pane').hidden = true;
  stopVideo();
}

function playVideo(dir, file) {
  const video = $('events-video');
  const out = $('events-files-out');
  video.hidden = false;
  video.src = recordUrl(dir, file);
  show(out, 'busy', 'Loading ' + file + '…');
  video.onloadedmetadata = () => show(out, 'ok', 'Playing ' + file);
  video.onerror = () => show(out, 'fail', 'Failed: ' + file + ' cannot be played here');
  video.play().catch(() => {});
  video.scrollIntoView({block: 'nearest'});
}

async function deleteVideo(dir, record, item) {
  const name = dir + '/' + record.filename;
  if (!await confirmAction('Delete the video ' + name + '?', 'Delete')) return;
  const done = await act(null, $('events-files-out'), 'Deleting ' + record.filename + '…',
    record.filename + ' deleted', () => getJson('/cgi-bin/eventsfiledel.sh?' + query({file: name})));
  if (!done) return;
  item.remove();
  if ($('events-video').src === recordUrl(dir, record.filename)) stopVideo();
}

function fileItem(dir, record) {
  const item = el('li');
  item.dataset.file = record.filename;
  if (record.thumbfilename) {
    // loading before src: the browser must know it may wait before the URL is set.
    item.append(el('img', {loading: 'lazy', alt: '', className: 'thumb', width: 160, height: 90,
      src: recordUrl(dir, record.thumbfilename)}));
  } else {
    item.append(el('span', {className: 'thumb', textContent: 'no picture'}));
  }
  const play = el('button', {type: 'button', className: 'play', textContent: '▶ ' + String(record.time).replace('Time: ', '')});
  play.addEventListener('click', () => playVideo(dir, record.filename));
  const download = el('a', {href: recordUrl(dir, record.filename), download: record.filename,
    className: 'button', textContent: 'Download'});
  const remove = el('button', {type: 'button', className: 'danger', textContent: 'Delete'});
  remove.addEventListener('click', () => deleteVideo(dir, record, item));
  item.append(el('div', {className: 'actions'}, play, download, remove));
  return item;
}

async function openEvents(entry) {
  closeEvents();
  openDir = entry;
  for (const item of $('events-dirs').children) {
    item.firstChild.toggleAttribute('aria-current', item.dataset.dir === entry.dirname);
  }
  $('events-files-title').textContent = dirLabel(entry);
  $('events-files').replaceChildren();
  $('events-files-pane').hidden = false;
  $('events-files-pane').scrollIntoView({block: 'nearest'});
  const answer = await act(null, $('events-files-out'), 'Loading…',
    (a) => (a.records || []).length + ' videos', () => getJson('/cgi-bin/eventsfile.sh?' + query({dirname: entry.dirname})));
  if (!answer || openDir !== entry) return;
  const list = $('events-files');
  for (const record of answer.records || []) list.append(fileItem(entry.dirname, record));
}

sections.events = {enter: loadEventDirs, leave: closeEvents};
$('events-refresh').addEventListener('click', loadEventDirs);
$('events-more').addEventListener('click', drawMoreDirs);

/* Delete one hour directory, or every one (dir "all"), after asking. */
async function deleteHours(button, out, question, okLabel, dir) {
  if (!await confirmAction(question, okLabel)) return;
  if (await act(button, out, 'Deleting…', 'Deleted',
    () => getJson('/cgi-bin/eventsdirdel.sh?' + query({dir})))) {
    closeEvents();
    loadEventDirs();
  }
}

$('events-delete-dir').addEventListener('click', (event) => openDir && deleteHours(event.currentTarget,
  $('events-files-out'), 'Delete every video of ' + dirLabel(openDir) + '?', 'Delete', openDir.dirname));
$('events-delete-all').addEventListener('click', (event) => deleteHours(event.currentTarget,
  $('events-out'), 'Delete ALL recorded videos?', 'Delete all', 'all'));

/* ---------- Snapshot ---------- */

let snapshotUrl = null;
let snapshotTimer = null;
let snapshotShown = false;

function showSnapshot(blob) {
  if (snapshotUrl) URL.revokeObjectURL(snapshotUrl);
  snapshotUrl = URL.createObjectURL(blob);
  $('snapshot-image').src = snapshotUrl;
  $('snapshot-image').hidden = false;
  const link = $('snapshot-download');
  link.href = snapshotUrl;
  link.download = 'snapshot-' + new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-') + '.jpg';
  link.hidden = false;
}

async function takeSnapshot() {
  clearTimeout(snapshotTimer);
  const params = {res: $('snapshot-res').value, watermark: $('snapshot-watermark').checked ? 'yes' : 'no'};
  await act($('snapshot-refresh'), $('snapshot-out'), 'Taking a snapshot…',
    () => 'Snapshot taken ' + new Date().toLocaleTimeString(), async () => {
      const answer = await call('/cgi-bin/snapshot.sh?' + query(params), null, 'blob');
      showSnapshot(answer.body);
      if (answer.res.headers.get('X-Snapshot') === 'fallback') {
        throw new Error('the camera gave no picture; a stand-in image is shown');
      }
    });
  clearTimeout(snapshotTimer);
  if (snapshotShown && $('snapshot-auto').checked) {
    snapshotTimer = setTimeout(takeSnapshot, SNAPSHOT_REFRESH_MS);
  }
}

sections.snapshot = {
  enter() {
    snapshotShown = true;
    takeSnapshot();
  },
  leave() {
    snapshotShown = false;
    clearTimeout(snapshotTimer);
  },
};
$('snapshot-refresh').addEventListener('click', takeSnapshot);
$('snapshot-auto').addEventListener('change', () => {
  if ($('snapshot-auto').checked) takeSnapshot();
  else clearTimeout(snapshotTimer);
});
$('snapshot-res').addEventListener('change', takeSnapshot);
$('snapshot-watermark').addEventListener('change', takeSnapshot);

/* ---------- PTZ ---------- */

let ptzHeld = null;   // the direction button held down, if any

function ptzTime() {
  const input = $('ptz-time');
  return input.reportValidity() ? input.value : null;
}

/* One move (the server stops it after TIME); repeated while the button is held. */
async function ptzMove(button) {
  const time = ptzTime();
  if (time === null) return;
  const dir = button.dataset.dir;
  let moves = 0;
  do {
    moves++;
    const ok = await act(null, $('ptz-out'), 'Moving ' + dir + '…', 'Moved ' + dir + (moves > 1 ? ' ×' + moves : ''),
      () => getJson('/cgi-bin/ptz.sh?' + query({dir, time})));
    if (!ok) break;
  } while (ptzHeld === button);
}

for (const button of document.querySelectorAll('.pad button')) {
  button.addEventListener('pointerdown', (event) => {
    if (event.button !== 0 || ptzHeld) return;
    button.setPointerCapture(event.pointerId);
    ptzHeld = button;
    ptzMove(button);
  });
  const release = () => {
    if (ptzHeld === button) ptzHeld = null;
  };
  for (const type of ['pointerup', 'pointercancel', 'lostpointercapture']) {
    button.addEventListener(type, release);
  }
  // A keyboard press (Enter, Space) clicks without a pointer: one move.
  button.addEventListener('click', (event) => {
    if (event.detail === 0) ptzMove(button);
  });
  button.addEventListener('contextmenu', (event) => event.preventDefault());
}

for (let num = 0; num < PTZ_PRESETS; num++) {
  const button = el('button', {type: 'button', textContent: String(num)});
  button.addEventListener('click', () => act(button, $('ptz-out'), 'Going to preset ' + num + '…',
    'At preset ' + num, () => getJson('/cgi-bin/preset.sh?num=' + num)));
  $('ptz-presets').append(button);
}

sections.ptz = {
  async enter() {
    if (cameraStatus) return;
    try {
      applyStatus(await getJson('/cgi-bin/status.json'));
    } catch (err) {
      show($('ptz-out'), 'fail', 'Failed: ' + err.message);
    }
  },
};

/* ---------- Maintenance ---------- */

function saveBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  const link = el('a', {href: url, download: name});
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), REQUEST_TIMEOUT_MS);
}

$('archive-save').addEventListener('click', (event) => act(event.currentTarget, $('archive-save-out'),
  'Preparing the archive…', (name) => 'Saved as ' + name, async () => {
    const answer = await call('/cgi-bin/save.sh', null, 'blob');
    const found = /filename="?([A-Za-z0-9._-]+)/.exec(answer.res.headers.get('Content-Disposition') || '');
    const name = found ? found[1] : 'config.tar.bz2';
    saveBlob(answer.body, name);
    return name;
  }));

$('archive-load').addEventListener('click', async (event) => {
  const out = $('archive-load-out');
  const file = $('archive-file').files[0];
  if (!file) {
    show(out, 'fail', 'Choose an archive first');
    return;
  }
  if (!await confirmAction('Replace the settings with those in ' + file.name + '?', 'Load')) return;
  const body = new FormData();
  body.append('file', file, file.name);
  act(event.currentTarget, out, 'Loading ' + file.name + '…', 'Settings loaded and applied',
    () => getText('/cgi-bin/load.sh', {method: 'POST', body}));
});

// service.sh names, and per name its parameters: [param, what it is, values].
const SERVICES = [
  ['rtsp', [['param1', 'resolution', ['high', 'low', 'both']]]],
  ['onvif', [['param1', 'resolution', ['high', 'low', 'both']], ['param2', 'watermark', ['no', 'yes']]]],
  ['ftpd', [['param1', 'server', ['busybox', 'pure-ftpd']]]],
  ['mqtt', []],
  ['mp4record', []],
];

function serviceRow(name, params) {
  const state = el('td', {textContent: '…'});
  const options = el('td');
  const selects = {};
  for (const [param, what, values] of params) {
    const select = el('select', {ariaLabel: name + ' ' + what});
    for (const value of values) select.append(el('option', {value, textContent: value}));
    selects[param] = select;
    options.append(select, ' ');
  }
  const out = el('output', {className: 'outcome', id: 'service-' + name + '-out'});
  const actions = el('td');
  for (const action of ['start', 'stop']) {
    const button = el('button', {type: 'button', textContent: action === 'start' ? 'Start' : 'Stop'});
    button.addEventListener('click', () => {
      const values = {};
      // param2 (the ONVIF watermark) goes with start only.
      for (const param of Object.keys(selects)) {
        if (action === 'start' || param === 'param1') values[param] = selects[param].value;
      }
      runService(button, out, name, action, values, state);
    });
    actions.append(button, ' ');
  }
  actions.append(out);
  const row = el('tr', {}, el('th', {scope: 'row', textContent: name}), state, options, actions);
  row.dataset.service = name;
  return {row, state};
}

const serviceRows = SERVICES.map(([name, params]) => {
  const built = serviceRow(name, params);
  $('services-rows').append(built.row);
  return [name, built.state];
});

const UPGRADE_STARTED = 'Download completed, rebooting and upgrading.';

async function loadFirmware() {
  const info = await act(null, $('firmware-out'), 'Checking the firmware…', 'Firmware information loaded',
    () => getJson('/cgi-bin/fw_upgrade.sh?get=info'));
  if (!info) return;
  fillFields($('firmware-fields'), [
    ['Installed', String(info.fw_version)],
    ['Latest release', info.latest_fw ? String(info.latest_fw) : 'unknown (no internet?)'],
    ['Archive on the SD card', info.local_fw === true ? 'yes' : 'no'],
  ]);
}

sections.maintenance = {
  enter() {
    for (const [name, state] of serviceRows) serviceState(name, state);
    loadFirmware();
  },
};

$('firmware-upgrade').addEventListener('click', async (event) => {
  if (!await confirmAction('Upgrade the firmware? The camera reboots when it is done.', 'Upgrade')) return;
  act(event.currentTarget, $('firmware-out'), 'Upgrading (do not power off)…',
    'Upgrade done; the camera is rebooting', async () => {
      // Like the firmware, any outcome is a 200 sentence; only this one means it goes ahead.
      const text = await getText('/cgi-bin/fw_upgrade.sh?get=upgrade');
      if (text !== UPGRADE_STARTED) throw new Error(text);
      return text;
    });
});

$('reboot').addEventListener('click', async (event) => {
  if (!await confirmAction('Reboot the camera now?', 'Reboot')) return;
  act(event.currentTarget, $('reboot-out'), 'Asking the camera to reboot…',
    'The camera is rebooting; reload this page in a minute', () => getJson('/cgi-bin/reboot.sh'));
});

/* ---------- start ---------- */

window.addEventListener('hashchange', route);
route();
