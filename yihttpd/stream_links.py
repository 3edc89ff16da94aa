"""The camera's stream and snapshot addresses, built as the firmware's links.sh
builds them (system.conf, the camera's address, default ports left out).

links.sh (handlers/links.py) answers them; the MQTT bridge publishes them
on its links topic (mqtt_advertise.py).
"""
import json

from . import checks

DEFAULT_RTSP_PORT = '554'
DEFAULT_HTTPD_PORT = '8080'
PORT_DIGITS = 5           # a port is at most 65535


def port_part(value, default, implicit):
    """':PORT' for a URL, '' when it is the scheme's own port (as the firmware writes them).

    A value that is not all digits is the firmware's default.
    """
    port = value if checks.only(value, checks.DIGITS, PORT_DIGITS) else default
    return '' if port == implicit else ':' + port


def links(system, ip):
    """[(key, url)] in the firmware's order, from system.conf's values and the camera's IP."""
    rtsp = 'rtsp://' + ip + port_part(system.get('RTSP_PORT', ''), DEFAULT_RTSP_PORT, '554')
    http = 'http://' + ip + port_part(system.get('HTTPD_PORT', ''), DEFAULT_HTTPD_PORT, '80')
    found = []
    if system.get('RTSP') == 'yes':
        stream = system.get('RTSP_STREAM')
        if stream in ('low', 'both'):
            found.append(('low_res_stream', rtsp + '/ch0_1.h264'))
        if stream in ('high', 'both'):
            found.append(('high_res_stream', rtsp + '/ch0_0.h264'))
        if system.get('RTSP_AUDIO') not in ('no', 'none'):
            found.append(('audio_stream', rtsp + '/ch0_2.h264'))
    for res in ('low', 'high'):
        found.append((res + '_res_snapshot', http + '/cgi-bin/snapshot.sh?res=%s&watermark=yes' % res))
    return found


def links_text(system, ip):
    """links.sh's JSON text: one "key":"url" a line, in the firmware's order."""
    pairs = links(system, ip)
    return '{\n' + ',\n'.join('%s:%s' % (json.dumps(k), json.dumps(v)) for k, v in pairs) + '\n}'
