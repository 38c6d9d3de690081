"""Component ids of the field page (/field), page-prefixed like :mod:`layouts.ids`.

Kept beside the page's helpers so the page can grow without touching the shared id module;
pattern-matching ids are dicts of ``type`` and ``index``.
"""

from __future__ import annotations

ROOT = "field-root"
TABS = "field-tabs"
TAB = "field-tab"  # pattern: {"type": TAB, "index": "inbox" | "report" | "patrol"}
INBOX_REV = "field-inbox-rev"
INBOX = "field-inbox"
INBOX_MSG = "field-inbox-msg"
INBOX_REFRESH = "field-inbox-refresh"
ACT = "field-act"  # pattern: index "CODE|to_state|from_state"
MAP = "field-map"
GRID = "field-grid"
MARKER_LAYER = "field-marker"
POINT = "field-point"  # {"lon", "lat", "src": "tap" | "gps", "acc"} in the basemap's or GPS datum
POINT_TEXT = "field-point-text"
LOCATE = "field-locate"
GEO_MSG = "field-geo-msg"
CATEGORY = "field-category"
SEVERITY = "field-severity"
TITLE = "field-title"
DESC = "field-desc"
PHOTO = "field-photo"
PHOTO_NAME = "field-photo-name"
SUBMIT = "field-submit"
FORCE = "field-force"
DUPS = "field-dups"
ATTACH = "field-attach"  # pattern: index = case code
REPORT_MSG = "field-report-msg"
PATROL_REV = "field-patrol-rev"
PATROL = "field-patrol"
PATROL_MSG = "field-patrol-msg"
PATROL_START = "field-patrol-start"
PATROL_CHECKIN = "field-patrol-checkin"
PATROL_END = "field-patrol-end"
PATROL_GPS = "field-patrol-gps"  # {"do": "start" | "checkin", "lon", "lat", "ts"}
PATROL_TICK = "field-patrol-tick"
CONFIG = "field-config"  # {"gcj02": bool, "auto_min": int}
