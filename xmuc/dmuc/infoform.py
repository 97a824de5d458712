# -*- test-case-name: tests.dmuc.test_infoform -*-
"""
How a domain says it can be a replica (../shared/design/dmuc.md section
1): the feature C{urn:xmpp:tmp:dmuc:0} in the disco#info of its bare
domain, with an XEP-0128 form C{FORM_TYPE=urn:xmpp:tmp:dmuc:0#info} whose
field C{slave} names its replica JID.

L{infoItems} builds what the domain lists (nothing publishes it yet: the
engine comes first). L{parseDiscoInfo} reads a domain's disco#info result
into a L{DiscoAnswer} for L{xmuc.dmuc.discovery}. Reading never raises: a
remote domain's odd answer only means "serve it classically", and the
L{DiscoAnswer.reason} says why, for the log.

Reading rules (docs/dmuc-decisions.md, "Discovery form"):
  - no feature: not capable, whatever forms there are;
  - feature without the form: the replica is C{dmuc@<domain>}, the
    design's default (an attach to a wrong JID fails, and a failed attach
    serves the domain classically anyway);
  - the field C{slave}, or C{replica} (XEP-0282 0.1.1's word) when
    C{slave} is absent; both with different values: not capable;
  - the replica JID must be a bare JID on the domain asked (a domain
    cannot have another domain mirror rooms for its users).
"""

from __future__ import annotations

from dataclasses import dataclass

from twisted.words.protocols.jabber.jid import JID
from twisted.words.xish import domish
from tx_xmpp import data_form
from tx_xmpp.disco import DiscoFeature, DiscoInfo

from xmuc.core.jid import InvalidJID, makeJID, parseJID
from xmuc.dmuc.ns import NS_DMUC, NS_DMUC_INFO
from xmuc.muc.ns import NS_DISCO_INFO

#: The form field naming the replica JID, and the alias accepted on input.
FIELD = "slave"
ALIAS = "replica"


@dataclass(frozen=True)
class DiscoAnswer:
    """
    What a domain's disco#info says: its replica JID, L{None} when it
    cannot be one, and why (for the log only: not part of equality).
    """

    replica: JID | None
    reason: str = ""

    @property
    def capable(self) -> bool:
        """
        Whether the domain can mirror rooms.
        """
        return self.replica is not None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DiscoAnswer) and self.replica == other.replica

    def __hash__(self) -> int:
        return hash(self.replica)


def defaultReplica(domain: str) -> JID:
    """
    The replica JID a domain has unless it names another: C{dmuc@domain}.
    """
    return makeJID("dmuc", domain)


def infoForm(replica: JID) -> data_form.Form:
    """
    The XEP-0128 form naming C{replica}.
    """
    return data_form.Form(
        "result", formNamespace=NS_DMUC_INFO,
        fields=[data_form.Field("jid-single", FIELD, value=replica)])


def infoItems(replica: JID) -> list[DiscoFeature | data_form.Form]:
    """
    What a DMUC-capable domain adds to the disco#info of its bare domain.
    """
    return [DiscoFeature(NS_DMUC), infoForm(replica)]


def _named(form: data_form.Form, domain: str) -> tuple[str | None, str]:
    """
    The text of the field naming the replica, or L{None} and why not.
    """
    values: dict[str, list[str]] = {}
    for var in (FIELD, ALIAS):
        field = form.fields.get(var)
        if field is not None:
            values[var] = [str(v) for v in field.raw_values]
    if not values:
        return defaultReplica(domain).full(), "form names no replica: the default"
    for var, texts in values.items():
        if len(texts) != 1:
            return None, f"field {var} has {len(texts)} values"
    texts = {texts[0] for texts in values.values()}
    if len(texts) > 1:
        return None, "fields slave and replica disagree"
    return texts.pop(), ""


def _replicaFrom(info: DiscoInfo, domain: str) -> DiscoAnswer:
    if DiscoFeature(NS_DMUC) not in info.features:
        return DiscoAnswer(None, "no DMUC feature")
    forms = [item for item in info
             if isinstance(item, data_form.Form) and item.formNamespace == NS_DMUC_INFO]
    if len(forms) > 1:
        return DiscoAnswer(None, "several DMUC forms")
    if not forms:
        return DiscoAnswer(defaultReplica(domain), "no DMUC form: the default replica")
    text, reason = _named(forms[0], domain)
    if text is None:
        return DiscoAnswer(None, reason)
    try:
        replica = parseJID(text.strip())
    except InvalidJID as e:
        return DiscoAnswer(None, f"replica JID {text!r}: {e}")
    if replica.host != parseJID(domain).host or replica.resource is not None:
        return DiscoAnswer(None, f"replica {replica.full()} is not a bare JID on {domain}")
    return DiscoAnswer(replica, reason)


def parseDiscoInfo(result: domish.Element, domain: str) -> DiscoAnswer:
    """
    Read the disco#info result of C{domain} (the iq, or its C{<query/>}).
    """
    query = result
    if (result.uri, result.name) != (NS_DISCO_INFO, "query"):
        query = next(iter(result.elements(NS_DISCO_INFO, "query")), None)
        if query is None:
            return DiscoAnswer(None, "disco#info result without a query")
    if query.getAttribute("node"):
        return DiscoAnswer(None, "disco#info of a node, not of the domain")
    try:
        info = DiscoInfo.fromElement(query)
    except (data_form.Error, ValueError) as e:
        return DiscoAnswer(None, f"disco#info does not parse: {e}")
    return _replicaFrom(info, domain)
