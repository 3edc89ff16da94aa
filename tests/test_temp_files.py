"""Temp files at predictable names (yihttpd-PURPOSE-PID...) are created new:
a link planted at such a name by another user of the temp dir never makes
the server write into the file it points to."""
import os

from test_ipc import stand_in_ipc_cmd
from test_snapshot import FRAME, good_grabber

PRECIOUS = b'precious, not to be overwritten\n'
SPOOLED = 70000   # a load.sh body past the 64 KiB kept in memory: spooled to a file


def plant_links(tmp_dir, pid, victims):
    """Links, each to its own victim file, at every temp name the next few
    requests of server pid would use."""
    names = {'save': ['save-%d' % pid], 'snapshot': ['snapshot-%d-1.jpg' % pid],
             'ipc': ['ipc-%d-1.bin' % pid], 'upload': ['upload-%d-%d' % (pid, fd) for fd in range(3, 64)],
             'child': ['child-%d-%d%s' % (pid, n, ext) for n in range(1, 4)
                       for ext in ('', '.pid', '.pid.cancel', '.tmp')]}
    for purpose, planted in names.items():
        victims[purpose].write_bytes(PRECIOUS)
        for name in planted:
            os.symlink(str(victims[purpose]), os.path.join(str(tmp_dir), 'yihttpd-' + name))


def test_links_planted_at_temp_names_are_never_written_through(start_server, sd, tmp_path):
    victims = {purpose: tmp_path / ('victim-%s.txt' % purpose)
               for purpose in ('save', 'snapshot', 'ipc', 'upload', 'child')}
    tmp_dir = tmp_path / 'tmp'
    tmp_dir.mkdir()
    good_grabber(sd, tmp_path)
    stand_in_ipc_cmd(sd, str(tmp_path / 'ipc-got.bin'))
    server = start_server('--tmp-dir', str(tmp_dir), '--ipc', 'ipc_cmd')
    plant_links(tmp_dir, server.proc.pid, victims)

    status, _, archive = server.get('/cgi-bin/save.sh')
    assert status == 200 and len(archive) > 100
    status, _, image = server.get('/cgi-bin/snapshot.sh')
    assert status == 200 and image == FRAME
    status, _, _ = server.request('POST', '/cgi-bin/load.sh', b'x' * SPOOLED,
                                  {'Content-Type': 'application/octet-stream'})
    assert status == 400   # not an archive, but spooled first
    assert server.get('/cgi-bin/preset.sh?num=1')[0] == 200

    changed = [purpose for purpose, victim in victims.items() if victim.read_bytes() != PRECIOUS]
    assert changed == []


def test_a_killed_servers_cgi_files_are_removed_at_the_next_start(start_server, tmp_path):
    """Their purposes hold a '-' (cgi-in, cgi-out); a body file may hold an ONVIF password."""
    tmp_dir = tmp_path / 'tmp'
    tmp_dir.mkdir()
    gone_pid = 99999999                       # above any pid_max: no such process
    os.mkfifo(str(tmp_dir / ('yihttpd-cgi-out-%d-3' % gone_pid)))
    (tmp_dir / ('yihttpd-cgi-in-%d-3' % gone_pid)).write_bytes(b'<Password>secret</Password>')
    (tmp_dir / ('yihttpd-child-%d-5.tmp' % gone_pid)).write_bytes(b'0')
    alive = 'yihttpd-cgi-in-%d-1' % os.getpid()   # another server's, still running
    (tmp_dir / alive).write_bytes(b'y')
    server = start_server('--tmp-dir', str(tmp_dir))
    assert os.listdir(str(tmp_dir)) == [alive]
    assert 'removed 3 temp files left by an earlier run' in server.log()
