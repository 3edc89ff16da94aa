#!/bin/sh
# yihttpd: serve the web page and cgi-bin services with yihttpd instead of
# the firmware's busybox httpd (same port, HTTPD_PORT of system.conf).
# No startup.sh yet: copy this file to yi-hack/startup.sh. Otherwise add
# the line below to the end of yours.
sh /tmp/sd/yi-hack/script/yihttpd.sh start
