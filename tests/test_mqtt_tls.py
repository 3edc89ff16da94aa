"""MQTT_TLS=1 on both runtimes, as the firmware's mqttv4 and mqtt-config take
it: the broker's certificate verified against etc/mqtt/ca.crt (a CA the
test makes with the openssl CLI), client.crt and client.key shown when
both are there. A certificate that does not verify, a broker that does not
speak TLS or a missing CA file: no CONNECT is sent (the broker never sees
the client id nor the password), the log says why, and it is tried again.
"""
import os
import shutil

import pytest

from mqtt_harness import MOTION_STOP, Broker, CertificateAuthority, Subscriber, wait_until

CLIENT_ID = 'yi-cam_yihttpd'


@pytest.fixture(scope='module')
def pki(tmp_path_factory):
    """A CA with a broker certificate for 127.0.0.1, a client certificate, a certificate for
    another name, and a second CA that signed none of them."""
    base = str(tmp_path_factory.mktemp('pki'))
    ca = CertificateAuthority(os.path.join(base, 'ca'))
    other = CertificateAuthority(os.path.join(base, 'other'), 'other CA')
    return {'ca': ca.cert, 'broker': ca.issue('broker'), 'client': ca.issue('camera', 'DNS:camera'),
            'elsewhere': ca.issue('elsewhere', 'DNS:elsewhere.example'), 'other': other.cert}


def tls_setup(mqtt, sd, tmp_path, pki, broker_cert='broker', card_ca='ca', client=False, require=False):
    """A TLS broker (unless broker_cert is None: a plain one) and the card's etc/mqtt files."""
    mqtt.broker.stop()
    directory = str(tmp_path / 'broker')
    os.makedirs(directory)
    if broker_cert is None:
        mqtt.broker = Broker(directory)
    else:
        cert, key = pki[broker_cert]
        mqtt.broker = Broker(directory, tls=(pki['ca'], cert, key, require))
    mqtt.configure(MQTT_TLS='1', MQTT_USER='cam', MQTT_PASSWORD='not-for-strangers')
    if card_ca:
        shutil.copy(pki[card_ca], sd.file('yi-hack/etc/mqtt/ca.crt') if os.path.isdir(
            sd.file('yi-hack/etc/mqtt')) else sd.write('yi-hack/etc/mqtt/ca.crt', ''))
    if client:
        cert, key = pki['client']
        shutil.copy(cert, sd.file('yi-hack/etc/mqtt/client.crt'))
        shutil.copy(key, sd.file('yi-hack/etc/mqtt/client.key'))


def refused_before_connect(mqtt, bridge, why):
    """The bridge says why, tries again, and the broker never saw a CONNECT."""
    bridge.wait_log(why)
    bridge.wait_log('next try in 2 s')
    assert CLIENT_ID not in mqtt.broker.log() and 'not-for-strangers' not in mqtt.broker.log()
    assert 'connected to' not in bridge.log()


def test_a_broker_whose_certificate_verifies_gets_the_connection(mqtt, sd, tmp_path, pki):
    tls_setup(mqtt, sd, tmp_path, pki)
    live = Subscriber(mqtt.broker, 'yicam/+', 1, tls=pki['ca'])
    mqtt.made.append(live)
    bridge = mqtt.start_bridge()
    live.expect('yicam/status online 0 1')
    bridge.wait_log('connected to 127.0.0.1:%d (TLS)' % mqtt.broker.port)
    mqtt.events.send(MOTION_STOP)
    live.expect('yicam/motion_detection motion_stop 0 1')


def test_a_client_certificate_is_shown_when_both_files_are_there(mqtt, sd, tmp_path, pki):
    tls_setup(mqtt, sd, tmp_path, pki, client=True, require=True)
    bridge = mqtt.start_bridge()
    bridge.wait_log('birth published')
    assert wait_until(lambda: CLIENT_ID in mqtt.broker.log())


def test_a_broker_asking_for_a_client_certificate_the_card_lacks_gets_no_connect(mqtt, sd, tmp_path, pki):
    tls_setup(mqtt, sd, tmp_path, pki, require=True)
    # With TLS 1.3 the broker's refusal may come only with the first read after the handshake.
    refused_before_connect(mqtt, mqtt.start_bridge(), '127.0.0.1:%d: ' % mqtt.broker.port)


@pytest.mark.parametrize('card_ca,broker_cert', [('other', 'broker'), ('ca', 'elsewhere')])
def test_a_certificate_that_does_not_verify_gets_no_connect(mqtt, sd, tmp_path, pki, card_ca, broker_cert):
    tls_setup(mqtt, sd, tmp_path, pki, broker_cert=broker_cert, card_ca=card_ca)
    refused_before_connect(mqtt, mqtt.start_bridge(), 'TLS handshake with 127.0.0.1 failed')


def test_a_broker_that_does_not_speak_tls_gets_no_connect(mqtt, sd, tmp_path, pki):
    tls_setup(mqtt, sd, tmp_path, pki, broker_cert=None)
    refused_before_connect(mqtt, mqtt.start_bridge(), 'TLS handshake with 127.0.0.1 failed')


def test_without_the_ca_file_nothing_is_sent_in_clear(mqtt, sd, tmp_path, pki):
    tls_setup(mqtt, sd, tmp_path, pki, broker_cert=None, card_ca=None)
    refused_before_connect(mqtt, mqtt.start_bridge(), 'TLS not set up (cannot read')
