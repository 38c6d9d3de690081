"""Strings of the /import page (uploading a data file, its preview and its background job);
registered on import."""

from __future__ import annotations

from layouts.i18n import register

STRINGS = {
    "nav.import": ("数据导入", "Import"),
    "import.title": ("数据导入", "Import data"),
    "import.intro": ("上传一个数据文件（边界、楼栋、户数登记等），先预览检查，再作为后台任务导入；"
                     "导入在一个事务内完成，任何一行被拒绝则整个文件都不写入。",
                     "Upload a data file (boundaries, buildings, household registers...), check the "
                     "preview, then import it as a background job in one transaction: if any row "
                     "is refused, nothing of the file is written."),
    "import.kind": ("数据类型", "Kind of data"),
    "import.kind_pick": ("选择数据类型", "Choose the kind"),
    "import.file": ("数据文件", "Data file"),
    "import.drop": ("将文件拖到此处，或", "Drop the file here, or"),
    "import.browse": ("选择文件", "choose a file"),
    "import.formats": ("可用格式：GeoPackage (.gpkg)、GeoJSON、FlatGeobuf、CSV / Excel（含 lon/lat 列）、"
                       "Shapefile（连同 .dbf/.shx/.prj/.cpg 打包为 .zip）。单个文件上限 {mb} MB"
                       "（文件经浏览器以 base64 一次上传，服务器处理时约占用文件大小 5 倍的内存）。",
                       "Formats: GeoPackage (.gpkg), GeoJSON, FlatGeobuf, CSV / Excel (with lon/lat "
                       "columns), Shapefile (zipped with its .dbf/.shx/.prj/.cpg). At most {mb} MB per "
                       "file (the browser sends it base64-encoded in one request; the server "
                       "needs about five times the file's size in memory meanwhile)."),
    "import.too_big": ("文件超过 {mb} MB 上限，未上传。", "The file is over the {mb} MB limit; not uploaded."),
    "import.options": ("高级选项", "Options"),
    "import.fields": ("字段对应（每行一个：字段=列名，例如 households=HH_COUNT）",
                      "Field mappings (one per line: field=COLUMN, e.g. households=HH_COUNT)"),
    "import.encoding": ("文字编码", "Text encoding"),
    "import.encoding_auto": ("自动", "Automatic"),
    "import.uploaded": ("已上传：{name}（{size}）", "Uploaded: {name} ({size})"),
    "import.preview": ("预览检查", "Preview"),
    "import.rows": ("要素（行）数", "Features (rows)"),
    "import.crs": ("坐标系", "Coordinate system"),
    "import.crs_none": ("无（属性表）", "none (attributes only)"),
    "import.geometry": ("几何类型", "Geometry"),
    "import.columns": ("字段对应", "Fields used"),
    "import.notes": ("说明", "Notes"),
    "import.repairs": ("将修复的几何", "Geometries to repair"),
    "import.problems": ("问题", "Problems"),
    "import.no_problem": ("文件检查通过（上级区域、重复编码和管辖范围在导入时由数据库检查）。",
                          "The file passed the checks (parents, codes already stored and your scope "
                          "are checked against the database when importing)."),
    "import.problem_lead": ("此文件不能导入：", "This file cannot be imported: "),
    "import.run": ("导入", "Import"),
    "import.cancel": ("取消", "Cancel"),
    "import.discard": ("移除文件", "Remove file"),
    "import.stage.queued": ("已提交，等待后台处理…", "Submitted, waiting for a worker…"),
    "import.stage.read": ("已读取 {done:,} 行", "{done:,} rows read"),
    "import.stage.validated": ("已读取 {done:,} 行，已校验 {done:,} 行", "{done:,} rows read, {done:,} validated"),
    "import.stage.writing": ("已校验 {total:,} 行，正在写入数据库（一个事务）…",
                             "{total:,} rows validated, writing to the database (one transaction)…"),
    "import.stage.committing": ("已写入 {done:,} 行，正在提交事务…", "{done:,} rows written, committing…"),
    "import.stage.written": ("已写入并提交 {done:,} 行", "{done:,} rows written and committed"),
    "import.done": ("导入完成：{kind}，来自 {file}。", "Imported {kind} from {file}."),
    "import.counts": ("写入结果", "Written"),
    "import.refused": ("导入被拒绝，未写入任何数据：", "Import refused; nothing was written: "),
    "import.failed": ("导入未完成（后台处理进程中断或出错），未写入任何数据。上传的文件仍保留一天，可重新导入。",
                      "The import did not finish (its worker stopped or failed); nothing was written. "
                      "The uploaded file is kept for a day: import it again."),
    "import.cancelled": ("导入已取消，未写入任何数据。", "Import cancelled; nothing was written."),
    "import.need_file": ("请先上传文件并选择数据类型。", "Upload a file and choose its kind first."),
    "import.rows_unit": ("行", "rows"),
    # kinds of data, as the command line's KIND
    "import.k.districts": ("区县边界", "districts"),
    "import.k.streets": ("街道边界", "streets"),
    "import.k.communities": ("社区边界", "communities"),
    "import.k.grids": ("网格", "grids"),
    "import.k.compounds": ("小区", "compounds"),
    "import.k.buildings": ("楼栋", "buildings"),
    "import.k.cameras": ("摄像头", "cameras"),
    "import.k.police-rooms": ("警务室", "police rooms"),
    "import.k.departments": ("职能部门", "departments"),
    "import.k.incidents": ("事件", "incidents"),
    "import.k.households": ("户数登记", "household register"),
    "import.k.roads": ("道路", "roads"),
    # what the writers count
    "import.c.districts": ("区县", "districts"),
    "import.c.streets": ("街道", "streets"),
    "import.c.communities": ("社区", "communities"),
    "import.c.grids": ("网格", "grids"),
    "import.c.versions": ("新网格版本", "new grid versions"),
    "import.c.compounds": ("小区", "compounds"),
    "import.c.buildings": ("楼栋", "buildings"),
    "import.c.cameras": ("摄像头", "cameras"),
    "import.c.in_grids": ("位于网格内", "inside a grid"),
    "import.c.police_rooms": ("警务室", "police rooms"),
    "import.c.departments": ("职能部门", "departments"),
    "import.c.incidents": ("事件", "incidents"),
    "import.c.rows": ("登记行", "register rows"),
    "import.c.buildings_changed": ("户数有变化的楼栋", "buildings changed"),
    "import.c.households": ("户数合计", "households"),
    "import.c.roads": ("道路", "roads"),
    "import.c.named": ("有名称的道路", "named roads"),
    "import.c.classes": ("道路等级", "road classes"),
    "import.c.placed_in_grids": ("已归入网格的楼栋", "placed in grids"),
    "import.c.cells": ("重算的楼栋单元", "building cells recomputed"),
}
register(STRINGS)
KEYS = frozenset(STRINGS)
