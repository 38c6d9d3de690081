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
    "import.formats": ("可用格式：GeoPackage、GeoJSON、CSV 或 Excel 表格（点位用经纬度列，列名如 x、y）、"
                       "Shapefile（连同其附属文件打包为一个压缩文件）。单个文件上限 {mb} 兆字节"
                       "（文件经浏览器编码后一次上传，服务器处理时约占用文件大小 5 倍的内存）。",
                       "Formats: GeoPackage (.gpkg), GeoJSON, FlatGeobuf (.fgb), CSV / Excel (points from "
                       "lon/lat or x/y columns), Shapefile (zipped with its .dbf/.shx/.prj/.cpg). At most {mb} MB per "
                       "file (the browser sends it base64-encoded in one request; the server "
                       "needs about five times the file's size in memory meanwhile)."),
    "import.options": ("高级选项", "Options"),
    "import.fields": ("字段对应（每行一个：字段=列名；字段名见预览中的“字段对应”）",
                      "Field mappings (one per line: field=COLUMN, e.g. households=HH_COUNT)"),
    "import.fields_hint": ("字段=列名", "field=COLUMN"),
    "import.encoding": ("文字编码", "Text encoding"),
    "import.encoding_auto": ("自动", "Automatic"),
    "import.encoding_gbk": ("国标中文", "GBK"),
    "import.uploaded": ("已上传：{name}（{size}）", "Uploaded: {name} ({size})"),
    "import.preview": ("预览检查", "Preview"),
    "import.rows": ("要素（行）数", "Features (rows)"),
    "import.crs": ("坐标系", "Coordinate system"),
    "import.crs_none": ("无（属性表）", "none (attributes only)"),
    "import.geometry": ("几何类型", "Geometry"),
    "import.columns": ("字段对应", "Fields used"),
    "import.notes": ("说明", "Notes"),
    "import.repairs": ("将修复的几何", "Geometries to repair"),
    "import.sampled": ("预览已检查前 {checked:,} 行（共 {rows:,} 行），其余各行在导入时检查。",
                       "The preview checked the first {checked:,} of {rows:,} rows; the others are checked "
                       "when importing."),
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
    "import.done": ("导入完成：{kind}，来自 {file}。", "Import done: {kind} from {file}."),
    "import.counts": ("写入结果", "Written"),
    "import.refused": ("导入被拒绝，未写入任何数据：", "Import refused; nothing was written: "),
    "import.failed": ("导入未完成（后台处理进程中断或出错），未写入任何数据。上传的文件仍保留一天，可重新导入。",
                      "The import did not finish (its worker stopped or failed); nothing was written. "
                      "The uploaded file is kept for a day: import it again."),
    "import.cancelled": ("导入已取消，未写入任何数据。", "Import cancelled; nothing was written."),
    "import.need_file": ("请先上传文件并选择数据类型。", "Upload a file and choose its kind first."),
    "import.rows_unit": ("行", "rows"),
    # kinds of data, as the command line's KIND
    "import.k.districts": ("区县边界", "Districts"),
    "import.k.streets": ("街道边界", "Streets"),
    "import.k.communities": ("社区边界", "Communities"),
    "import.k.grids": ("网格", "Grids"),
    "import.k.compounds": ("小区", "Compounds"),
    "import.k.buildings": ("楼栋", "Buildings"),
    "import.k.cameras": ("摄像头", "Cameras"),
    "import.k.police-rooms": ("警务室", "Police rooms"),
    "import.k.departments": ("职能部门", "Departments"),
    "import.k.incidents": ("事件", "Incidents"),
    "import.k.households": ("户数登记", "Household register"),
    "import.k.roads": ("道路", "Roads"),
    # geometry types and canonical fields, as the preview names them
    "import.g.Point": ("点", "Point"), "import.g.MultiPoint": ("多点", "MultiPoint"),
    "import.g.Polygon": ("面", "Polygon"), "import.g.MultiPolygon": ("多面", "MultiPolygon"),
    "import.g.LineString": ("线", "LineString"), "import.g.MultiLineString": ("多线", "MultiLineString"),
    "import.f.geometry": ("几何", "geometry"), "import.f.code": ("编码", "code"),
    "import.f.name": ("名称", "name"), "import.f.name_en": ("英文名称", "name_en"),
    "import.f.households": ("户数", "households"), "import.f.floors": ("层数", "floors"),
    "import.f.address": ("地址", "address"), "import.f.use": ("用途", "use"),
    "import.f.osm_id": ("开放街图编号", "osm_id"), "import.f.building_code": ("楼栋编码", "building_code"),
    "import.f.district_code": ("区县编码", "district_code"), "import.f.street_code": ("街道编码", "street_code"),
    "import.f.community_code": ("社区编码", "community_code"),
    "import.f.compound_code": ("小区编码", "compound_code"), "import.f.seq": ("序号", "seq"),
    "import.f.kind": ("网格类型", "kind"), "import.f.type": ("类型", "type"), "import.f.status": ("状态", "status"),
    "import.f.owner": ("权属单位", "owner"), "import.f.last_heartbeat": ("最近心跳", "last_heartbeat"),
    "import.f.stream_url": ("视频流地址", "stream_url"), "import.f.phone": ("电话", "phone"),
    "import.f.category": ("事件类别", "category"), "import.f.severity": ("严重程度", "severity"),
    "import.f.state": ("状态", "state"), "import.f.reported_at": ("上报时间", "reported_at"),
    "import.f.title": ("标题", "title"), "import.f.description": ("描述", "description"),
    "import.f.level": ("层级", "level"), "import.f.class": ("道路等级", "class"),
    "import.f.target_households": ("目标户数", "target_households"),
    "import.f.min_households": ("户数下限", "min_households"),
    "import.f.max_households": ("户数上限", "max_households"),
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
