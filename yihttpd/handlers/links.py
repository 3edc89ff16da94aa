"""links.sh: the stream and snapshot addresses Home Assistant's yi_hack
integration takes as its stream_source (stream_links.py builds them, as
the firmware's links.sh does).
"""
from .. import conf
from ..device import NA, network_info
from ..http import Response
from ..stream_links import links_text


def links_sh(req):
    """GET links.sh: {"low_res_stream":...,"high_res_snapshot":...} (keys as the firmware's)."""
    system = conf.read_conf(req.app.sd.conf_path('system.conf'))
    ip = network_info()['local_ip']
    return Response(links_text(system, '' if ip == NA else ip).encode())
