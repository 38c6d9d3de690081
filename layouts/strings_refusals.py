"""The refusal pages (401, 403, 404, 400, 503) in the visitor's language.

:func:`refusal_text` turns a refusal into one sentence in Chinese or English: a
:class:`~geo.access.permissions.PermissionDenied` is told from its parts (the role and the
action named in that language, from geo/access/roles.py and the registry's descriptions);
any other message in the project's "中文 / English" form is cut to its half.
"""

from __future__ import annotations

from geo.access.permissions import PermissionDenied, description
from geo.access.roles import ROLE_NAMES
from layouts.i18n import register, t

register({
    "refusal.title": ("无权访问", "Not allowed"),
    "refusal.not_found_title": ("页面不存在", "Page not found"),
    "refusal.not_found": ("没有这个页面，请检查地址，或从首页进入。",
                          "There is no such page: check the address, or start from the home page."),
    "refusal.bad_request_title": ("请求有误", "Bad request"),
    "refusal.unavailable_title": ("暂时无法处理", "Temporarily unavailable"),
    "refusal.back": ("返回首页", "Back to the home page"),
    "refusal.role": ("您的角色「{role}」无权{what}。", "Your role ({role}) may not {what}."),
    "refusal.scope": ("{target} 不在您的管辖范围（{scope}）内，无权{what}。",
                      "{target} lies outside your scope ({scope}): you may not {what} there."),
    "refusal.read_only": ("大屏匿名访问为只读，请登录后操作。",
                          "The anonymous wall screen is read-only: sign in to act."),
    "refusal.signed_out": ("请先登录。", "Please sign in."),
    "refusal.unregistered": ("这项操作未登记，已拒绝。", "This action is not registered: refused."),
    "refusal.ask": ("如需此权限，请联系系统管理员。", "To be given this permission, ask an administrator."),
})

_TITLES = {400: "refusal.bad_request_title", 403: "refusal.title", 404: "refusal.not_found_title",
           503: "refusal.unavailable_title"}


def role_name(role: str | None, lang: str) -> str:
    """A role as people call it (网格员 / grid worker)."""
    zh, en = ROLE_NAMES.get(role or "", (role or "", role or ""))
    return zh if lang == "zh" else en


def title(status: int, lang: str) -> str:
    """The heading (and window title) of a refusal page with this status."""
    return t(_TITLES.get(status, "refusal.title"), lang)


def half(message: str, lang: str) -> str:
    """The Chinese or English half of a "中文 / English" message (the whole message if it has
    no such halves)."""
    zh, sep, en = message.partition(" / ")
    if not sep:
        return message
    return zh if lang == "zh" else en


def refusal_text(refusal: PermissionDenied | str, lang: str) -> str:
    """One sentence saying why, in ``lang`` (``zh`` or ``en``)."""
    if not isinstance(refusal, PermissionDenied) or refusal.reason is None:
        return half(refusal if isinstance(refusal, str) else refusal.user_msg, lang)
    what = description(refusal.action or "", lang)
    if refusal.reason == "role":
        return t("refusal.role", lang).format(role=role_name(refusal.role, lang), what=what)
    if refusal.reason == "scope":
        return t("refusal.scope", lang).format(target=refusal.target, scope=refusal.scope, what=what)
    return t(f"refusal.{refusal.reason}", lang)
