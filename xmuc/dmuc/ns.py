NS_DMUC = "urn:xmpp:tmp:dmuc:0"
NS_DMUC_INFO = "urn:xmpp:tmp:dmuc:0#info"
