"""Component ids of the /import page (page-prefixed ``imp-``)."""

BOOT = "imp-boot"  # {"lang": ...}: the page's language, for the job (a worker has no request)
TOKEN = "imp-token"  # the signed user the import job acts as
UPLOAD = "imp-upload"  # the stored upload's id (geo.importers.uploads)
KIND = "imp-kind"
FILE = "imp-file"  # dcc.Upload
FILE_INFO = "imp-file-info"
FIELDS = "imp-fields"
ENCODING = "imp-encoding"
CRS = "imp-crs"
PREVIEW = "imp-preview"
RUN = "imp-run"
CANCEL = "imp-cancel"
PROGRESS = "imp-progress"
PROGRESS_TEXT = "imp-progress-text"
STATUS = "imp-status"
RESULT = "imp-result"
