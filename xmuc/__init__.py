"""
xmuc: an XMPP server whose multi-user chat is distributed across federated
servers (XEP-0282 DMUC2).
"""

__version__ = "0.1.0"
