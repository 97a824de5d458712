"""
Twisted glue: runs the effects of the pure engines (L{xmuc.muc}) on the
reactor, the router and the store.
"""
