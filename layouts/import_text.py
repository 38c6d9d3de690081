"""The importer's messages in the page's language.

The importer (``geo.importers``) speaks English to the command line: "buildings.gpkg:
feature 2 (code X), field 'households' (column 'HH'): -5 is negative (must be >= 0)". On
the /import page in Chinese the same facts are said in Chinese: each known sentence pattern
below is rewritten, the file, feature, code, field and column names are kept as they are. A
bilingual message ("中文 / English", the page's own refusals) is cut to its half. The
command-line hints (``--field``, ``--encoding``, ``--crs``) name the page's options instead.
"""

from __future__ import annotations

import re

_CJK = re.compile(r"[\u4e00-\u9fff]")

_LEVEL = {"district": "区县", "street": "街道", "community": "社区", "grid": "网格", "building": "楼栋",
          "compound": "小区", "department": "职能部门", "incident category": "事件类别"}


_GEOMETRY = {"Point": "点", "MultiPoint": "多点", "LineString": "线", "MultiLineString": "多线", "Polygon": "面",
             "MultiPolygon": "多面", "GeometryCollection": "几何集合", "LinearRing": "环"}


def _field(name: str, column: str | None = None) -> str:
    """「户数」（households，列 HH）: a canonical field by its Chinese name, the name typed in
    a mapping and the file's column kept."""
    from layouts.strings_import import STRINGS

    zh = STRINGS.get(f"import.f.{name}", (None,))[0]
    inner = "，".join(x for x in ((name if zh else None), (f"列 {column}" if column else None)) if x)
    head = f"「{zh}」" if zh else f" {name} "
    return head + (f"（{inner}）" if inner else "")


# (pattern, Chinese) in order; applied one after another to the English text.
_ZH: tuple[tuple[str, str], ...] = (
    (r"feature (\d+) \(code ([^)]*)\)", r"第 \1 个要素（编码 \2）"),
    (r"feature (\d+)", r"第 \1 个要素"),
    (r"the file holds no feature \(empty file\)", "文件中没有任何要素（空文件）"),
    (r"the file holds no layer \(empty file\)", "文件中没有图层（空文件）"),
    (r"cannot read this file as GIS data \((.*)\)$", r"无法作为地理数据读取（\1）"),
    (r"cannot read this file \((.*)\)$", r"无法读取此文件（\1）"),
    (r"cannot read this table \((.*)\)$", r"无法读取此表格（\1）"),
    (r"cannot read layer '([^']*)' \((.*)\)$", r"无法读取图层 \1（\2）"),
    (r"the file has (\d+) layers \((.*)\); choose one with --layer",
     r"文件有 \1 个图层（\2），请每次只上传含一个图层的文件"),
    (r"unknown CRS \(the file does not say which coordinate system it uses\);.*$",
     "坐标系未知（文件未说明所用坐标系）；请在“高级选项”中填写坐标系，例如 EPSG:4326 或 EPSG:4549"),
    (r"coordinates are not longitude/latitude after conversion;.*$",
     "转换后的坐标不是经纬度：坐标系有误，请在“高级选项”中填写正确的坐标系"),
    (r"cannot reproject from (\S+): .*$", r"无法从 \1 转换坐标"),
    (r"required field '([^']*)' is missing for (\S+) \(columns: (.*)\); map one with --field .*$",
     lambda m: f"缺少必填字段{_field(m[1])}（文件的列：{m[3]}）；请在“高级选项”的字段对应中填写 {m[1]}=列名"),
    (r"required field (\S+) is missing for (\S+) \(columns: (.*)\); map one with --field .*$",
     r"缺少必填字段 \1（文件的列：\3）；请在“高级选项”的字段对应中填写 \1=列名"),
    (r"households need a key field 'building_code' or 'address' \(columns: (.*)\); map one with --field",
     r"户数登记需要 building_code 或 address 字段作为对应楼栋的依据（文件的列：\1）；请在字段对应中填写"),
    (r"--field ([^:]*): the file has no column '([^']*)' \(columns: (.*)\)$",
     r"字段对应 \1：文件中没有列 \2（文件的列：\3）"),
    (r"--field '([^']*)': write it as canonical=COLUMN", r"字段对应 \1 的写法应为 字段=列名"),
    (r"--field '([^']*)': (\S+) have no field '([^']*)'; fields are (.*)$",
     r"字段对应 \1：此类数据没有字段 \3（可用字段：\4）"),
    (r"field '([^']*)' \(column '([^']*)'\)", lambda m: f"字段{_field(m[1], m[2])}"),
    (r"field ([\"'])(.*?)\1", lambda m: f"字段{_field(m[2])}"),
    (r"a value is required", "必须填写"),
    (r"the geometry is empty", "几何为空"),
    (r"wrong geometry type (\w+); a Polygon or MultiPolygon is needed",
     lambda m: f"几何类型为{_GEOMETRY.get(m[1], m[1])}，需要面"),
    (r"wrong geometry type (\w+); a Point is needed", lambda m: f"几何类型为{_GEOMETRY.get(m[1], m[1])}，需要点"),
    (r"wrong geometry type (\w+); a LineString or MultiLineString is needed",
     lambda m: f"几何类型为{_GEOMETRY.get(m[1], m[1])}，需要线"),
    (r"the line has no length \(all its points coincide\)", "线的长度为零（所有点重合）"),
    (r"invalid geometry \((.*)\) that cannot be repaired into a polygon", r"几何无效（\1），无法修复为面"),
    (r"duplicate code (\S+) \(also (.*)\)$", r"编码 \1 重复（与\2相同）"),
    (r"duplicate code, already in the database \((\d+) such code\(s\) in this file\)",
     r"编码重复，数据库中已有（此文件中共 \1 个这样的编码）"),
    (r"(-?\d+) is negative \(must be >= (\d+)\)", r"\1 为负数（须不小于 \2）"),
    (r"(-?\d+) is below (\d+) \(must be >= \d+\)", r"\1 小于 \2"),
    (r"(.*) is not a whole number( or text)?", r"\1 不是整数"),
    (r"(.*) is not a number", r"\1 不是数字"),
    (r"(.*) is not a date-time \(use ISO 8601\)", r"\1 不是日期时间（请用 2026-03-01 08:00 这样的格式）"),
    (r"(.*) is not one of (.*)$", r"\1 不是可选值之一（\2）"),
    (r"'([^']*)' must be exactly (\d+) digits", r"\1 必须是 \2 位数字"),
    (r"its point lies outside the district \(([^)]*)\)(; (\d+) more feature\(s\) too)?",
     r"位置不在区县（\1）范围内"),
    (r"extends (\d+) m beyond district (\d+) \(at most (\d+) m allowed\)(; (\d+) more feature\(s\) too)?",
     r"超出区县 \2 边界 \1 米（最多允许 \3 米）"),
    (r"its point lies in no (\w+) in the database; import the \w+ first or map --field (\S+)=COLUMN",
     lambda m: f"所在位置不在数据库中的任何{_LEVEL.get(m[1], m[1])}内；请先导入{_LEVEL.get(m[1], m[1])}，"
               f"或在字段对应中填写 {m[2]}=列名"),
    (r"no (incident category|\w+) with code (\S+) in the database",
     lambda m: f"数据库中没有编码为 {m[2]} 的{_LEVEL.get(m[1], m[1])}"),
    (r"no building code or address to find the building by", "既没有楼栋编码也没有地址，无法对应楼栋"),
    (r"the same building as (.*) \(duplicate\)", r"与\1是同一栋楼（重复）"),
    (r"no building has the address '([^']*)'; key this row by building code", r"没有楼栋的地址是 \1；请改用楼栋编码"),
    (r"(\d+) buildings share the address '([^']*)'; key this row by building code",
     r"\1 栋楼共用地址 \2；请改用楼栋编码"),
    (r"does not start with its (?:parent's|community's) code (\d+)", r"编码没有以上级编码 \1 开头"),
    (r"there is no district in the database yet; import districts first.*$", "数据库中还没有区县；请先导入区县边界"),
    (r"text looks mis-decoded \(([^)]*)\);.*$",
     r"文字疑似乱码（\1）；请在“高级选项”中选择文字编码（中文文件常为“国标中文”）"),
    (r"the text is not (\S+) \(.*\); pass --encoding gbk for a GBK file",
     r"文字不是 \1 编码；国标中文（GBK）文件请在“高级选项”中选择“国标中文”"),
    (r"the database refused the import: (.*)$", r"数据库拒绝了此次导入：\1"),
    (r"the grids of community (\d+) are refused: ", r"社区 \1 的网格被拒绝："),
    (r"lies (\d+) m from the nearest district \(at most (\d+) m allowed\)", r"距最近的区县 \1 米（最多允许 \2 米）"),
    # the reader's, the CRS conversion's and the grid writer's notes
    (r"^reprojected from (\S+) to EPSG:4326$", r"坐标已从 \1 转换为 EPSG:4326"),
    (r"^coordinates taken as (\S+)$", r"坐标按 \1 读取"),
    (r"^CGCS2000 \(EPSG:4490\) coordinates stored as EPSG:4326.*$",
     "CGCS2000（EPSG:4490）坐标按 EPSG:4326 保存（两者相差仅厘米级）"),
    (r"^file CRS (\S+) replaced by --crs (\S+)$", r"文件坐标系 \1 已替换为指定的 \2"),
    (r"^text decoded as (\S+)( \(\.cpg\))?$", r"文字按 \1 编码读取"),
    (r"^points from columns (\S+)$", r"由 \1 列生成点位"),
    (r"^(\d+) grid\(s\) trimmed to their community \(edges within (\S+) m of its boundary\)$",
     r"\1 个网格已裁剪到所属社区（边界误差 \2 米以内）"),
    (r"^(\d+) sliver gap\(s\) .*merged into neighbouring grids$", r"\1 处细小缝隙已并入相邻网格"),
    (r"^building cells recomputed for (\d+) community\(ies\): (\d+) cell\(s\) in (\S+) s$",
     r"已为 \1 个社区重算楼栋单元：共 \2 个，用时 \3 秒"),
    (r"^(\d+) building\(s\) lie inside another footprint and get no cell$", r"\1 栋楼位于其他楼栋轮廓内，没有单元"),
    (r"^(\d+) building cell\(s\) repaired after reprojection$", r"\1 个楼栋单元在坐标转换后已修复"),
    (r", ", "，"),
    (r"; ", "；"),
    (r": ", "："),
)
_ZH_COMPILED = tuple((re.compile(p), r) for p, r in _ZH)

# The command line's hints, in English on the page: they name its options.
_EN: tuple[tuple[str, str], ...] = (
    (r"map one with --field (\S+)=COLUMN", r"map one under Options: \1=COLUMN"),
    (r"--field ", "field mapping "),
    (r"pass --crs, e\.g\. --crs (\S+) or --crs (\S+)", r"give the CRS under Options, e.g. \1 or \2"),
    (r"pass the right one with --crs", "give the right one under Options"),
    (r"pass its encoding, e\.g\. --encoding gbk \(Chinese\) or --encoding utf-8",
     "choose its encoding under Options (GBK for Chinese)"),
    (r"pass --encoding gbk for a GBK file", "choose GBK under Options for a GBK file"),
    (r" \(python -m geo import districts FILE\)", ""),
)
_EN_COMPILED = tuple((re.compile(p), r) for p, r in _EN)


def say(message: str, lang: str) -> str:
    """``message`` (an importer's or the page's refusal) in ``lang``."""
    text = str(message)
    head, sep, tail = text.partition(" / ")
    if sep and _CJK.search(head):  # "中文 / English": the page's and the scope check's own
        return head if lang == "zh" else tail
    if lang != "zh":
        for pattern, repl in _EN_COMPILED:
            text = pattern.sub(repl, text)
        return text
    for pattern, repl in _ZH_COMPILED:
        text = pattern.sub(repl, text)
    return text
