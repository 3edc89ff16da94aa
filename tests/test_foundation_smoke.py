def test_status_json_answers_every_field(server):
    status, body = server.get_json('/cgi-bin/status.json')
    assert status == 200
    for key in ('name', 'hostname', 'fw_version', 'mac_addr', 'serial_number', 'ptz'):
        assert isinstance(body[key], str)
    assert 'privacy' not in body
