"""
twistd plugin: C{twistd -n xmuc -c node.ini}.
"""

from twisted.application.service import ServiceMaker

xmuc = ServiceMaker("xmuc", "xmuc.tap", "An XMPP server with distributed rooms.", "xmuc")
