"""Every component id, page-prefixed (one place to look, no typos across files)."""

# shell
URL = "shell-url"
LANG_SWITCH = "shell-lang"
CLOCK = "shell-clock"
CLOCK_TICK = "shell-clock-tick"

# command centre (/)
CMD_BOOT = "cmd-boot"
CMD_MAP = "cmd-map"
CMD_DISTRICTS = "cmd-districts"
CMD_STREETS = "cmd-streets"
CMD_COMMUNITIES = "cmd-communities"
CMD_GRIDS = "cmd-grids"
CMD_LAYERS = "cmd-layers"
CMD_NOTICE = "cmd-notice"
CMD_ERROR = "cmd-error"

# planning (/plan)
PLAN_BOOT = "plan-boot"
PLAN_TABLE = "plan-table"
PLAN_ERROR = "plan-error"

# review (/review)
REVIEW_BOOT = "review-boot"
REVIEW_TABLE = "review-table"
REVIEW_ERROR = "review-error"

# incidents (/incidents)
INC_BOOT = "inc-boot"
INC_TABLE = "inc-table"
INC_ERROR = "inc-error"

# audit log (/audit)
AUDIT_ACTOR = "audit-actor"
AUDIT_ACTION = "audit-action"
AUDIT_DATES = "audit-dates"
AUDIT_TABLE = "audit-table"
AUDIT_ERROR = "audit-error"
