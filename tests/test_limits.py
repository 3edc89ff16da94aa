"""Crowds and slow clients never lock out a real one."""
import os
import socket
import threading
import time

CROWD = 200


def timed_get(server, path='/cgi-bin/status.json'):
    started = time.time()
    status, _, _ = server.get(path, timeout=5)
    return status, time.time() - started


def open_crowd(server, count):
    socks = []
    for _ in range(count):
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect((server.host, server.port))
        except BlockingIOError:
            pass
        socks.append(s)
    return socks


def trickle(socks, stop, payload=b'GET / HTTP/1.1\r\nX-Slow: ' + b'a' * 200):
    """Send one more header byte a second on each socket until stop is set."""
    position = 0
    while not stop.is_set() and position < len(payload):
        for s in socks:
            try:
                s.send(payload[position:position + 1])
            except OSError:
                pass
        position += 1
        stop.wait(1.0)


def test_200_idle_and_trickling_clients_do_not_lock_out_a_request(server):
    idle = open_crowd(server, CROWD // 2)
    slow = open_crowd(server, CROWD // 2)
    stop = threading.Event()
    trickler = threading.Thread(target=trickle, args=(slow, stop))
    trickler.start()
    try:
        time.sleep(1.5)   # the crowd is in and trickling
        for _ in range(3):
            status, elapsed = timed_get(server)
            assert status == 200
            assert elapsed < 1.0, 'answered after %.2f s' % elapsed
    finally:
        stop.set()
        trickler.join()
        for s in idle + slow:
            s.close()


def test_a_client_that_does_not_read_does_not_stall_others(sd, start_server):
    sd.write('record/2020Y01M01D01H/00M00S60.mp4', os.urandom(8 * 1024 * 1024))
    server = start_server()
    stalled = socket.create_connection((server.host, server.port))
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.sendall(b'GET /record/2020Y01M01D01H/00M00S60.mp4 HTTP/1.1\r\nHost: x\r\n\r\n')
    try:
        time.sleep(0.5)
        for _ in range(3):
            status, elapsed = timed_get(server)
            assert status == 200 and elapsed < 1.0
    finally:
        stalled.close()


def test_the_connection_cap_drops_the_stalest_waiting_client(start_server):
    server = start_server('--max-connections', '4')
    crowd = [socket.create_connection((server.host, server.port)) for _ in range(4)]
    time.sleep(0.3)
    status, elapsed = timed_get(server)
    assert status == 200 and elapsed < 1.0
    crowd[0].settimeout(2)
    assert crowd[0].recv(1) == b'', 'the oldest idle connection should have been closed'
    for s in crowd:
        s.close()
