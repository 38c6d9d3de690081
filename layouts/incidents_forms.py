"""The action forms of a case: what each asks for, its check before it is sent, and the one
service call it makes (every step goes through :mod:`geo.incidents.service`)."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime, timedelta

from dash import dcc, html

from geo.errors import GridAtlasError
from geo.incidents import service, triage, whistles
from layouts import ids
from layouts.i18n import dropdown, t

# action -> fields, each (name, kind, required)
FIELDS: dict[str, tuple[tuple[str, str, bool], ...]] = {
    "resolve": (("note", "text", False), ("photo", "photo", False)),
    "escalate": (("note", "text", False),),
    "file": (("triage", "triage", False), ("note", "text", False)),
    "dispatch": (("department", "department", True), ("note", "text", False)),
    "accept": (("note", "text", False),),
    "handle": (("note", "text", True), ("photo", "photo", False)),
    "defer_request": (("days", "days", True), ("note", "text", True)),
    "defer_approve": (("note", "text", False),),
    "defer_reject": (("note", "text", False),),
    "verify": (("note", "text", False),),
    "return": (("note", "text", True),),
    "close": (("note", "text", False),),
    "evaluate": (("grade", "grade", True), ("note", "text", False)),
    "urge": (("note", "text", True),),
    "merge": (("codes", "codes", True), ("note", "text", False)),
    "whistle": (("kind", "kind", True), ("departments", "departments", True), ("note", "text", False)),
    "report_in": (("note", "text", False),),
}
PRIMARY = {"dispatch", "accept", "handle", "verify", "close", "file", "escalate", "report_in"}
DAYS = (1, 3, 7, 14, 30)
MISSING = {"note": "inc.field.note_required", "department": "inc.field.department_required",
           "departments": "inc.field.departments_required", "kind": "inc.field.kind_required",
           "grade": "inc.field.grade_required", "days": "inc.field.until_required",
           "codes": "inc.field.codes_required"}


def _fid(action: str, name: str) -> dict:
    return {"type": ids.INC_FIELD, "index": f"{action}:{name}"}


def _dep_opts(departments: list[dict], lang: str) -> list[dict]:
    return [{"label": f"{d['code']} {(d.get('name_en') if lang == 'en' else d['name']) or ''}".strip(),
             "value": d["code"]} for d in departments]


def _field(action: str, name: str, kind: str, required: bool, case: dict, departments: list[dict],
           lang: str):
    star = " *" if required else ""
    if kind == "text":
        return dcc.Textarea(id=_fid(action, name), value="", maxLength=service.MAX_TEXT,
                            placeholder=t("inc.field.note", lang) + star, className="inc-note")
    if kind == "photo":
        return html.Div([
            dcc.Upload(id={"type": ids.INC_PHOTO, "index": action}, accept="image/jpeg,image/png,image/webp",
                       max_size=4 * 1024 * 1024, className="inc-upload",
                       children=html.Div(t("inc.field.photo", lang))),
            html.Div(id={"type": ids.INC_PHOTO_NAME, "index": action}, className="inc-photo-name"),
        ])
    if kind == "department":
        return dropdown(id=_fid(action, name), options=_dep_opts(departments, lang),
                            value=case.get("proposed_department"), clearable=False,
                            placeholder=t("inc.field.department", lang) + star, className="inc-field-dd")
    if kind == "departments":
        return dropdown(id=_fid(action, name), options=_dep_opts(departments, lang), multi=True,
                            placeholder=t("inc.field.departments", lang) + star, className="inc-field-dd")
    if kind == "kind":
        return dropdown(id=_fid(action, name), searchable=False, className="inc-field-dd",
                            placeholder=t("inc.field.kind", lang) + star,
                            options=[{"label": t(f"whistle.{k}", lang), "value": k} for k in whistles.KINDS])
    if kind == "grade":
        return dropdown(id=_fid(action, name), searchable=False, className="inc-field-dd",
                            placeholder=t("inc.field.grade", lang) + star,
                            options=[{"label": t(f"grade.{g}", lang), "value": g} for g in service.GRADES])
    if kind == "triage":
        return dropdown(id=_fid(action, name), searchable=False, className="inc-field-dd",
                            placeholder=t("inc.field.triage", lang),
                            options=[{"label": t(f"triage.{x}", lang), "value": x} for x in triage.TRIAGES])
    if kind == "days":
        return dropdown(id=_fid(action, name), searchable=False, className="inc-field-dd",
                            placeholder=t("inc.field.until", lang) + star,
                            options=[{"label": t("inc.dur.d", lang).format(n=d), "value": d} for d in DAYS])
    if kind == "codes":
        return dcc.Input(id=_fid(action, name), type="text", value="", maxLength=400,
                         placeholder=t("inc.field.codes", lang) + star, className="inc-codes")
    raise ValueError(kind)


def forms(actions: list[str], case: dict, departments: list[dict], lang: str) -> list:
    """One small form per action, each with its own submit button."""
    out = []
    for action in actions:
        fields = [_field(action, n, k, r, case, departments, lang) for n, k, r in FIELDS[action]]
        cls = "ga-btn ga-btn-primary" if action in PRIMARY else "ga-btn"
        if action in ("return", "defer_reject"):
            cls = "ga-btn inc-btn-warn"
        out.append(html.Div(className=f"inc-form inc-form-{action}", children=[
            *fields,
            html.Button(t(f"act.{action}", lang), id={"type": ids.INC_ACT, "index": action},
                        n_clicks=0, className=cls),
        ]))
    return out


def _photo_bytes(contents: str | None, lang: str) -> bytes | None:
    if not contents:
        return None
    try:
        head, data = contents.split(",", 1)
        if ";base64" not in head:
            raise ValueError
        return base64.b64decode(data, validate=True)
    except (ValueError, binascii.Error):
        raise GridAtlasError(t("inc.field.photo_bad", lang)) from None


def check(action: str, values: dict, lang: str) -> str | None:
    """The first missing required field's message (the form is not sent), else ``None``."""
    for name, _kind, required in FIELDS[action]:
        v = values.get(name)
        if required and (v is None or v == "" or v == [] or (isinstance(v, str) and not v.strip())):
            return t(MISSING[name], lang)
    return None


def submit(actor: service.Actor, action: str, case: dict, values: dict, photo: str | None,
           lang: str) -> dict:
    """Make the one service call of ``action`` (the service checks everything again)."""
    code, version = case["code"], case.get("version")
    note = (values.get("note") or "").strip() or None
    now = datetime.now(UTC)
    moves = {"resolve": "resolved", "escalate": "escalated", "file": "filed", "dispatch": "dispatched",
             "accept": "accepted", "handle": "handled", "verify": "verified", "return": "returned",
             "close": "closed"}
    if action in moves:
        return service.transition(
            actor, code, moves[action], note=note, expected_version=version,
            department=values.get("department") if action == "dispatch" else None,
            triage=values.get("triage") if action == "file" else None,
            photo=_photo_bytes(photo, lang) if action in ("resolve", "handle") else None, now=now)
    if action == "defer_request":
        return service.request_deferral(actor, code, reason=note or "",
                                        until=now + timedelta(days=int(values["days"])), now=now)
    if action in ("defer_approve", "defer_reject"):
        return service.decide_deferral(actor, code, approve=action == "defer_approve", note=note,
                                       expected_version=version, now=now)
    if action == "evaluate":
        return service.evaluate(actor, code, values["grade"], comment=note, expected_version=version,
                                now=now)
    if action == "urge":
        return service.urge(actor, code, note or "", now=now)
    if action == "merge":
        codes = [c.strip() for c in str(values.get("codes") or "").replace("，", ",").split(",") if c.strip()]
        return service.merge_duplicates(actor, code, codes, note=note, now=now)
    if action == "whistle":
        return whistles.blow(actor, code, values["kind"], values.get("departments") or [], note=note,
                             now=now)
    if action == "report_in":
        return whistles.report_in(actor, code, note=note, now=now)
    raise GridAtlasError(f"未知操作 / unknown action {action!r}")
