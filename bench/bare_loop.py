"""The least a poll-loop HTTP server can do: the ceiling bench_request_path.py compares with.

    python3 bench/bare_loop.py PORT      (also runs under MicroPython)

Answers every request on a keep-alive connection with the same fixed bytes,
parsing nothing but the blank line that ends a head.
"""
import select
import socket
import sys

BODY = b'var hostname = "yi-hack";\n'
ANSWER = ('HTTP/1.1 200 OK\r\nContent-Type: text/javascript\r\nContent-Length: %d\r\n\r\n'
          % len(BODY)).encode() + BODY


def main():
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(socket.getaddrinfo('127.0.0.1', int(sys.argv[1]))[0][-1])
    listener.listen(128)
    listener.setblocking(False)
    poller = select.poll()
    poller.register(listener, select.POLLIN)
    clients = {}   # fd -> [socket, bytes received so far]
    while True:
        for obj, _events in poller.poll(1000):
            fd = obj if isinstance(obj, int) else obj.fileno()
            if fd == listener.fileno():
                sock, _ = listener.accept()
                sock.setblocking(False)
                poller.register(sock, select.POLLIN)
                clients[sock.fileno()] = [sock, b'']
                continue
            client = clients[fd]
            try:
                data = client[0].recv(4096)
            except OSError:   # reset by a client that is done
                data = b''
            if not data:
                poller.unregister(client[0])
                client[0].close()
                del clients[fd]
                continue
            client[1] += data
            while b'\r\n\r\n' in client[1]:
                client[1] = client[1].split(b'\r\n\r\n', 1)[1]
                client[0].send(ANSWER)


main()
