"""yihttpd with one place that always runs out of memory, as a full heap would there.

    YIHTTPD_MEMORY_FAULT=PLACE python -m memory_fault [yihttpd options]
    YIHTTPD_MEMORY_FAULT=PLACE YIHTTPD_MEMORY_FAULT_WHILE=FILE python -m memory_fault ...

(tests/ on the module path.) On the camera's MicroPython at 256K these
places fail now and then, depending on the heap's layout; here they fail
every time (or, with YIHTTPD_MEMORY_FAULT_WHILE, while that file exists),
so a test sees what the server does then. The server's own code has no
hook for this: this module replaces one function from outside, then runs
the server as `-m yihttpd` would.
"""
import os

from yihttpd import cgi, child, conf, http


def out_of_memory(*_args, **_kwargs):
    raise MemoryError('memory allocation failed (forced by tests/memory_fault.py)')


PLACES = {
    'cgi-read': (cgi.FifoReader, 'read_into'),   # reading a CGI program's answer pipe
    'cgi-start': (cgi, 'Background'),            # starting a CGI program
    'request': (http, 'parse_head'),             # reading each request's head
    'conf-read': (conf, 'read_conf'),            # reading a KEY=VALUE file (system.conf)
    'program-start': (child, 'Background'),      # starting any program beside the loop (iwconfig)
}

owner, name = PLACES[os.getenv('YIHTTPD_MEMORY_FAULT')]
flag = os.getenv('YIHTTPD_MEMORY_FAULT_WHILE')
if flag is None:
    setattr(owner, name, out_of_memory)
else:
    working = getattr(owner, name)

    def out_of_memory_while_flagged(*args, **kwargs):
        try:
            os.stat(flag)
        except OSError:
            return working(*args, **kwargs)
        out_of_memory()

    setattr(owner, name, out_of_memory_while_flagged)

import yihttpd.__main__  # noqa: E402,F401 - runs the server with this process's arguments
