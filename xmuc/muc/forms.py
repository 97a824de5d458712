# -*- test-case-name: tests.muc.test_forms -*-
"""
XEP-0004 data forms, as much as the room needs: building a form to send
and reading a submitted one into a L{SubmittedForm}.

Reading checks the shape only (a form element, single-valued fields with
one value); the meaning of values is checked by whoever owns the field,
see L{xmuc.muc.roomconfig}.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from twisted.words.xish import domish

from xmuc.core.errors import BadRequest
from xmuc.muc.ns import NS_DATA

_SINGLE = frozenset(
    ("boolean", "fixed", "jid-single", "list-single", "text-private", "text-single")
)


@dataclass(frozen=True)
class FormField:
    """
    One field of a form to send.
    """

    var: str
    kind: str = "text-single"
    label: str = ""
    values: tuple[str, ...] = ()
    options: tuple[tuple[str, str], ...] = ()
    required: bool = False


@dataclass(frozen=True)
class SubmittedForm:
    """
    A form someone sent: its type (C{submit}, C{cancel} ...), its
    FORM_TYPE and the values of its fields by C{var}.
    """

    kind: str
    formType: str | None = None
    values: dict[str, tuple[str, ...]] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)

    def single(self, var: str) -> str | None:
        """
        The value of a single-valued field, L{None} when absent.
        """
        values = self.values.get(var)
        return values[0] if values else None


def formElement(
    kind: str,
    formType: str | None,
    fields: Iterable[FormField],
    title: str = "",
    instructions: str = "",
) -> domish.Element:
    """
    Build a C{<x xmlns='jabber:x:data'/>} of type C{kind}.
    """
    form = domish.Element((NS_DATA, "x"))
    form["type"] = kind
    if title:
        form.addElement("title", content=title)
    if instructions:
        form.addElement("instructions", content=instructions)
    if formType is not None:
        hidden = form.addElement("field")
        hidden["var"] = "FORM_TYPE"
        hidden["type"] = "hidden"
        hidden.addElement("value", content=formType)
    for spec in fields:
        element = form.addElement("field")
        element["var"] = spec.var
        if kind == "form" or spec.kind in ("hidden", "fixed"):
            element["type"] = spec.kind
        if spec.label and kind == "form":
            element["label"] = spec.label
        if spec.required and kind == "form":
            element.addElement("required")
        for label_value in spec.options if kind == "form" else ():
            value, label = label_value
            option = element.addElement("option")
            if label:
                option["label"] = label
            option.addElement("value", content=value)
        for value in spec.values:
            element.addElement("value", content=value)
    return form


def findForm(parent: domish.Element) -> domish.Element | None:
    """
    The first data form child of C{parent}.
    """
    for child in parent.elements(NS_DATA, "x"):
        return child
    return None


def parseForm(element: domish.Element) -> SubmittedForm:
    """
    Read a data form element.

    @raise BadRequest: when it has no type, a field without C{var}, or
        several values in a single-valued field.
    """
    kind = element.getAttribute("type")
    if kind not in ("form", "submit", "cancel", "result"):
        raise BadRequest("data form without a valid type")
    values: dict[str, tuple[str, ...]] = {}
    types: dict[str, str] = {}
    for child in element.elements(NS_DATA, "field"):
        var = child.getAttribute("var")
        if not var:
            raise BadRequest("data form field without var")
        fieldValues = tuple(str(v) for v in child.elements(NS_DATA, "value"))
        fieldType = child.getAttribute("type")
        if fieldType in _SINGLE and len(fieldValues) > 1:
            raise BadRequest(f"{var} takes one value")
        values[var] = fieldValues
        if fieldType:
            types[var] = fieldType
    formType = values.pop("FORM_TYPE", (None,))
    return SubmittedForm(kind, formType[0] if formType else None, values, types)


def parseBoolean(var: str, value: str) -> bool:
    """
    An XEP-0004 boolean.

    @raise BadRequest: for anything but 0, 1, false or true.
    """
    lowered = value.strip().lower()
    if lowered in ("1", "true"):
        return True
    if lowered in ("0", "false"):
        return False
    raise BadRequest(f"{var}: {value!r} is not a boolean")
