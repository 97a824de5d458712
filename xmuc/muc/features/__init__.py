"""
The room's features, one XEP-0045 (or related XEP) feature per module, each
joined to the core by the named hooks of L{xmuc.muc.registry} and enabled
by one line of L{xmuc.muc.registry.MODULES}.
"""
