# -*- test-case-name: tests.dmuc.test_infoform -*-
"""
Tests for L{xmuc.dmuc.infoform}: the XEP-0128 form a replica domain lists,
and a domain's disco#info result read into a L{DiscoAnswer}.
"""

from __future__ import annotations

from hypothesis import given
from twisted.trial.unittest import SynchronousTestCase
from tx_xmpp.disco import DiscoInfo

from tests.dmuc import strategies as dst
from tests.support.harness import parseStanza
from xmuc.core.jid import makeJID, parseJID
from xmuc.dmuc.infoform import DiscoAnswer, infoItems, parseDiscoInfo

FEATURE = "<feature var='urn:xmpp:tmp:dmuc:0'/>"


def form(*fields: str, formType: str = "urn:xmpp:tmp:dmuc:0#info") -> str:
    return ("<x xmlns='jabber:x:data' type='result'><field var='FORM_TYPE' type='hidden'>"
            f"<value>{formType}</value></field>{''.join(fields)}</x>")


def field(var: str, *values: str, kind: str = "jid-single") -> str:
    inner = "".join(f"<value>{v}</value>" for v in values)
    return f"<field var='{var}' type='{kind}'>{inner}</field>"


def answer(*children: str, domain: str = "b.example", node: str = "") -> DiscoAnswer:
    attribute = f" node='{node}'" if node else ""
    iq = parseStanza(f"<iq type='result' from='{domain}' id='d1'>"
                     f"<query xmlns='http://jabber.org/protocol/disco#info'{attribute}>"
                     "<identity category='server' type='im'/>"
                     f"{''.join(children)}</query></iq>")
    return parseDiscoInfo(iq, domain)


REPLICA = parseJID("dmuc@b.example")


class RenderTests(SynchronousTestCase):
    """
    What a replica domain lists.
    """

    @dst.bounded
    @given(dst.users, dst.hosts)
    def test_roundTrip(self, user: str, host: str) -> None:
        """
        The feature and form a domain lists read back as its replica JID.
        """
        replica = makeJID(user, host)
        info = DiscoInfo()
        for item in infoItems(replica):
            info.append(item)
        self.assertEqual(parseDiscoInfo(info.toElement(), host), DiscoAnswer(replica))

    def test_fieldNamedSlave(self) -> None:
        """
        The form's field is C{slave}, a jid-single, as the design page says.
        """
        [_, dataForm] = infoItems(REPLICA)
        xml = dataForm.toElement().toXml()
        self.assertIn("<field type='jid-single' var='slave'><value>dmuc@b.example</value>",
                      xml)
        self.assertIn("<value>urn:xmpp:tmp:dmuc:0#info</value>", xml)


class ReadTests(SynchronousTestCase):
    """
    Reading a domain's disco#info answer.
    """

    def test_slave(self) -> None:
        """
        The feature and a form naming the replica: capable, that JID.
        """
        result = answer(FEATURE, form(field("slave", "mirror@b.example")))
        self.assertEqual(result.replica, parseJID("mirror@b.example"))
        self.assertTrue(result.capable)

    def test_replicaAlias(self) -> None:
        """
        A field named C{replica} (XEP-0282 0.1.1's word) is accepted when
        C{slave} is absent; both with one value are fine.
        """
        self.assertEqual(answer(FEATURE, form(field("replica", "dmuc@b.example"))).replica,
                         REPLICA)
        both = form(field("slave", "dmuc@b.example"), field("replica", "dmuc@b.example"))
        self.assertEqual(answer(FEATURE, both).replica, REPLICA)

    def test_disagreeingFields(self) -> None:
        """
        C{slave} and C{replica} naming different JIDs: not capable.
        """
        both = form(field("slave", "dmuc@b.example"), field("replica", "other@b.example"))
        self.assertFalse(answer(FEATURE, both).capable)

    def test_noFeature(self) -> None:
        """
        Without the feature a domain is served classically, even with the
        form (Prosody and ejabberd list neither).
        """
        self.assertEqual(answer(form(field("slave", "dmuc@b.example"))), DiscoAnswer(None))
        self.assertEqual(answer("<feature var='http://jabber.org/protocol/disco#info'/>"),
                         DiscoAnswer(None))

    def test_featureWithoutForm(self) -> None:
        """
        The feature alone means the default replica JID, dmuc@domain; so
        does a form that names none.
        """
        self.assertEqual(answer(FEATURE), DiscoAnswer(REPLICA))
        self.assertEqual(answer(FEATURE, form()), DiscoAnswer(REPLICA))
        self.assertEqual(answer(FEATURE, form(field("other", "x"),
                                              formType="urn:example:other")),
                         DiscoAnswer(REPLICA))

    def test_untypedField(self) -> None:
        """
        A field without a type still names the replica.
        """
        self.assertEqual(answer(FEATURE, form("<field var='slave'><value> dmuc@b.example "
                                              "</value></field>")).replica, REPLICA)

    def test_otherDomain(self) -> None:
        """
        A replica JID on another domain, or with a resource, is refused:
        a domain cannot have others mirror rooms for its users.
        """
        for jid in ("dmuc@c.example", "dmuc@b.example/r", "dmuc@sub.b.example"):
            result = answer(FEATURE, form(field("slave", jid)))
            self.assertFalse(result.capable, jid)
            self.assertIn("not a bare JID on b.example", result.reason)

    def test_badValues(self) -> None:
        """
        No value, several values, a JID that does not parse, two DMUC
        forms, duplicate fields: not capable, never an exception.
        """
        cases = [
            form(field("slave")),
            form(field("slave", "a@b.example", "c@b.example", kind="jid-multi")),
            form(field("slave", "@@b.example")),
            form(field("slave", "dmuc@b.example")) * 2,
            form(field("slave", "dmuc@b.example"), field("slave", "dmuc@b.example")),
        ]
        for case in cases:
            self.assertFalse(answer(FEATURE, case).capable, case)

    def test_queryOnly(self) -> None:
        """
        The C{<query/>} itself may be given instead of the iq.
        """
        iq = parseStanza("<iq type='result'><query xmlns='http://jabber.org/protocol/disco#info'>"
                         f"{FEATURE}</query></iq>")
        self.assertEqual(parseDiscoInfo(iq.firstChildElement(), "b.example").replica, REPLICA)

    def test_noQuery(self) -> None:
        """
        A result without a disco#info query, or for a node: not capable.
        """
        self.assertFalse(parseDiscoInfo(parseStanza("<iq type='result'/>"), "b.example").capable)
        self.assertFalse(answer(FEATURE, node="urn:other").capable)
