"""Unit tests of the MQTT bridge's pure parts, run as they are on CPython (by
test_mqtt_units.py) and as a script under MicroPython 1.26.1 (x86-64 and
32-bit ARM): `micropython mqtt_units.py [IPC_TABLE.json]` prints
"N passed, M failed". No pytest here: plain asserts.

IPC_TABLE.json, made by test_mqtt_units.py from the firmware's mqttv4
sources (include/ipc.h, src/ipc.c), lists every message mqttv4 tells
apart and what it makes of it; check_ipc_table checks the bridge reads
each the same way.
"""
import json
import sys

from yihttpd import ipc, ipc_settings, mqtt_client, mqtt_files, mqtt_schedule, mqtt_settings, mqtt_tls
from yihttpd.checks import Refused


def check_ipc_table(path):
    """Each message of mqttv4's tables: the same event, or the same (key, value) setting."""
    with open(path) as f:
        table = json.load(f)
    for hexed, kind, name, value in table:
        message = bytes(bytearray(int(hexed[i:i + 2], 16) for i in range(0, len(hexed), 2)))
        for padded in (message, message + b'\x00' * 8):   # mqttv4 compares the front of a message
            if kind == 'event':
                assert ipc.event_name(padded) == name, (hexed, name)
                assert ipc_settings.setting_of(padded) is None, hexed
            else:
                assert ipc_settings.setting_of(padded) == (name, value), (hexed, name, value)
                assert ipc.event_name(padded) is None, hexed
    assert len([row for row in table if row[1] == 'setting']) == 42


def test_junk_is_neither_an_event_nor_a_setting():
    for junk in (b'', b'\x01', b'\xff' * 16, ipc.ptz_stop(), ipc.go_preset(3), bytearray(24)):
        assert ipc.event_name(junk) is None and ipc_settings.setting_of(junk) is None


def test_crontab_times_parse_as_cron_reads_them():
    when = mqtt_schedule.parse('*/15 1-3,22 * * 1,7')
    assert sorted(when[0]) == [0, 15, 30, 45] and sorted(when[1]) == [1, 2, 3, 22]
    assert sorted(when[4]) == [0, 1, 7]
    for bad in ('', '0 * * *', '60 * * * *', '*/0 * * * *', 'x * * * *', '5-1 * * * *', '*/1\u00b2 * * * *'):
        assert mqtt_schedule.parse(bad) is None, bad
    sunday_4_30 = (2024, 7, 7, 4, 30, 0, 6, 189)     # localtime's weekday 6 is Sunday
    assert mqtt_schedule.matches(mqtt_schedule.parse('30 4 * * 0'), sunday_4_30)
    assert not mqtt_schedule.matches(mqtt_schedule.parse('30 4 * * 1'), sunday_4_30)
    # day of month and weekday both given: either, as cron
    assert mqtt_schedule.matches(mqtt_schedule.parse('30 4 1 * 0'), sunday_4_30)
    assert not mqtt_schedule.matches(mqtt_schedule.parse('30 4 1 * *'), sunday_4_30)


def test_utc_seconds_and_the_files_times():
    assert mqtt_files.utc_seconds((1970, 1, 1, 0, 0, 0)) == 0
    assert mqtt_files.utc_seconds((2000, 3, 1, 0, 0, 0)) == 951868800      # after a 400-year leap day
    assert mqtt_files.utc_seconds((2100, 3, 1, 12, 0, 0)) == 4107585600    # 2100 is not a leap year
    assert mqtt_files.local_folders('12.0.51.08', 'r30gb')
    assert not mqtt_files.local_folders('12.0.51.08', 'y211ga')
    assert not mqtt_files.local_folders('9.0.19', 'r30gb')


class Wire:
    """Stands for the broker's socket: what the client writes."""

    def __init__(self):
        self.written = b''

    def write(self, data):
        self.written += bytes(data)
        return len(data)


def client_with(data):
    client = mqtt_client.MQTTClient('id', 'broker')
    client.sock = Wire()
    client._take(data)
    client._handle_packets()
    return client


def publish(topic, payload, qos, pid=7, retain=False):
    body = mqtt_client.encode_string(topic) + (bytes((pid >> 8, pid & 255)) if qos else b'') + payload
    return mqtt_client.packet(mqtt_client.PUBLISH | qos << 1 | (1 if retain else 0), body)


def test_the_brokers_messages_at_each_qos_are_acknowledged_and_taken_once():
    client = client_with(publish('a/b', b'x', 0) + publish('a/c', b'y', 1, 5, True) +
                         publish('a/d', b'z', 2, 9) + publish('a/d', b'z', 2, 9))   # QoS 2 sent again
    assert client.messages == [('a/b', b'x', False), ('a/c', b'y', True), ('a/d', b'z', False)]
    assert client.sock.written == b'\x40\x02\x00\x05' + b'\x50\x02\x00\x09' * 2
    client._take(b'\x62\x02\x00\x09')          # PUBREL: PUBCOMP, and 9 forgotten
    client._handle_packets()
    assert client.sock.written.endswith(b'\x70\x02\x00\x09') and 9 not in client.remembered


def test_a_message_too_long_is_skipped_in_pieces_its_topic_kept():
    big = publish('yicam/cmnd/camera/LED', b'y' * 10000, 1, 3)
    client = mqtt_client.MQTTClient('id', 'broker')
    client.sock = Wire()
    for at in range(0, len(big), 999):          # as it comes off the socket
        client._take(big[at:at + 999])
        client._handle_packets()
    client._take(publish('t', b'after', 0))
    client._handle_packets()
    assert client.messages == [('yicam/cmnd/camera/LED', None, False), ('t', b'after', False)]
    assert client.sock.written == b'\x40\x02\x00\x03'


def test_remaining_lengths_and_split_headers():
    for n in (0, 127, 128, 16383, 16384, 300000):
        head = b'\x30' + mqtt_client.encode_remaining_length(n)
        assert mqtt_client.split_header(head) == (0x30, n, len(head))
    assert mqtt_client.split_header(b'\x30\x80') is None            # cut short
    try:
        mqtt_client.split_header(b'\x30\xff\xff\xff\xff\x01')
        assert False, 'five length bytes taken'
    except mqtt_client.MQTTException:
        pass


def test_publishes_at_qos_1_and_2_await_their_acknowledgements():
    client = client_with(b'')
    client.publish('t', b'1', False, 1)
    client.publish('t', b'2', True, 2)
    assert client.in_flight == {1: mqtt_client.PUBACK, 2: mqtt_client.PUBREC}
    client._take(b'\x40\x02\x00\x01\x50\x02\x00\x02')
    client._handle_packets()
    assert client.in_flight == {2: mqtt_client.PUBCOMP}
    assert client.sock.written.endswith(b'\x62\x02\x00\x02')        # PUBREL for the PUBREC
    client._take(b'\x70\x02\x00\x02')
    client._handle_packets()
    assert client.in_flight == {}


PEM = '''junk before
-----BEGIN CERTIFICATE-----
AAECAwQF
-----END CERTIFICATE-----
-----BEGIN CERTIFICATE-----
/w==
-----END CERTIFICATE-----
'''


def test_pem_files_become_der_blocks(tmp='/tmp'):
    path = '%s/yihttpd-mqtt-units.pem' % tmp
    with open(path, 'w') as f:
        f.write(PEM)
    assert mqtt_tls.der_blocks(path) == [b'\x00\x01\x02\x03\x04\x05', b'\xff']
    with open(path, 'w') as f:
        f.write('no certificate here\n')
    try:
        mqtt_tls.der_blocks(path)
        assert False, 'a file without PEM taken'
    except mqtt_tls.TlsError as err:
        assert 'no PEM' in err.message


def test_validate_c_table_rules():
    v = mqtt_settings.validated
    assert v('system', 'TELNETD', 'on') == 'yes' and v('camera', 'LED', 'off') == 'no'
    assert v('system', 'RTSP_PORT', '554') == '554' and v('ptz', 'MOVE', 'stop') == 'stop'
    assert v('system', 'TIMELAPSE_DT', '1440+5') == '1440+5'     # set_configs.sh's rule decides
    for case in (('system', 'TELNETD', 'YES'), ('system', 'RTSP_PORT', '0'), ('system', 'RTSP_PORT', '+554'),
                 ('camera', 'SENSITIVITY', 'HIGH'), ('ptz', 'GOTO_PRESET', '8'), ('camera', 'HTTPD', 'yes'),
                 ('nofile', 'LED', 'yes'), ('system', 'TIMELAPSE', '60')):
        try:
            v(*case)
            assert False, case
        except Refused:
            pass


def main(argv):
    tests = [(name, obj) for name, obj in sorted(globals().items()) if name.startswith('test_')]
    if len(argv) > 1:
        tests.append(('check_ipc_table', lambda: check_ipc_table(argv[1])))
    passed = failed = 0
    for name, test in tests:
        try:
            test()
            passed += 1
        except Exception as exc:
            failed += 1
            print('FAILED %s: %r' % (name, exc))
    print('%d passed, %d failed' % (passed, failed))


if __name__ == '__main__':
    main(sys.argv)
