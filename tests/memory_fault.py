"""yihttpd with one place that always runs out of memory, as a full heap would there.

    YIHTTPD_MEMORY_FAULT=PLACE python -m memory_fault [yihttpd options]

(tests/ on the module path.) On the camera's MicroPython at 256K these
places fail now and then, depending on the heap's layout; here they fail
every time, so a test sees what the server does then. The server's own
code has no hook for this: this module replaces one function from outside,
then runs the server as `-m yihttpd` would.
"""
import os

from yihttpd import cgi, http


def out_of_memory(*_args, **_kwargs):
    raise MemoryError('memory allocation failed (forced by tests/memory_fault.py)')


PLACES = {
    'cgi-read': (cgi.FifoReader, 'read_into'),   # reading a CGI program's answer pipe
    'cgi-start': (cgi, 'Background'),            # starting a CGI program
    'request': (http, 'parse_head'),             # reading each request's head
}

owner, name = PLACES[os.getenv('YIHTTPD_MEMORY_FAULT')]
setattr(owner, name, out_of_memory)

import yihttpd.__main__  # noqa: E402,F401 - runs the server with this process's arguments
