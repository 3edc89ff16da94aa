"""yihttpd: one small web server for yi-hack cameras (see README.md)."""
