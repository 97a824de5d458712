# -*- test-case-name: tests.muc.test_forms -*-
"""
Tests for L{xmuc.muc.forms}.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from tests.support.harness import parseStanza
from xmuc.core.errors import BadRequest
from xmuc.muc.forms import FormField, SubmittedForm, formElement, parseBoolean, parseForm


def form(body: str, kind: str = "submit") -> SubmittedForm:
    return parseForm(parseStanza(f"<x xmlns='jabber:x:data' type='{kind}'>{body}</x>"))


class FormTests(SynchronousTestCase):
    def test_roundTrip(self) -> None:
        """
        A built form reads back with its FORM_TYPE and values.
        """
        element = formElement("form", "urn:t", [FormField("a", "list-multi", "A", ("1", "2"))])
        parsed = parseForm(parseStanza(element.toXml()))
        self.assertEqual((parsed.kind, parsed.formType, parsed.values), ("form", "urn:t",
                                                                         {"a": ("1", "2")}))

    def test_badShape(self) -> None:
        """
        No type, a field without var, or several values in a single-valued
        field are bad-request.
        """
        self.assertRaises(BadRequest, form, "", kind="bogus")
        self.assertRaises(BadRequest, form, "<field><value>x</value></field>")
        self.assertRaises(BadRequest, form, "<field var='a' type='boolean'><value>1</value>"
                                            "<value>0</value></field>")

    def test_boolean(self) -> None:
        """
        XEP-0004 booleans are 0, 1, false and true.
        """
        self.assertEqual([parseBoolean("v", t) for t in ("1", "true", "0", "False")],
                         [True, True, False, False])
        self.assertRaises(BadRequest, parseBoolean, "v", "yes")
