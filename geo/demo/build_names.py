"""Fictional Chinese place names with English renderings (pinyin), seeded."""

from __future__ import annotations

import numpy as np
from pypinyin import lazy_pinyin

STREET_STEMS = (
    "和平", "建设", "光明", "新华", "长安", "朝阳", "胜利", "友谊", "人民", "团结", "幸福", "振兴",
)
COMMUNITY_STEMS = (
    "东湖", "西苑", "南山", "北辰", "春晖", "丰泽", "惠民", "安康", "锦华", "翠园", "金桥", "银河",
    "育才", "桃园", "柳岸", "枫林", "松涛", "竹溪", "梅园", "兰亭", "海棠", "紫荆", "丁香", "玉泉",
    "清河", "白塔", "向阳", "湖滨", "滨江", "龙潭", "凤鸣", "凯旋", "永安", "泰和", "嘉禾", "瑞祥",
    "德胜", "富强", "恒通", "百花", "星光", "月湖", "鹿鸣", "华苑", "天华", "青年", "文化", "民主",
    "红旗", "前进", "绿洲", "草原", "晨曦", "雪松", "银杏", "荷塘", "书香", "康乐", "和顺", "祥和",
    "东升", "西岭", "南湖", "北苑", "中山", "广场", "花园", "学府", "体育", "车站",
)
COMPOUND_STEMS = (
    "锦绣", "阳光", "翡翠", "碧水", "蓝天", "金色", "银座", "明珠", "名都", "盛世", "御景", "华庭",
    "世纪", "国际", "未来", "时代", "怡景", "雅居", "康城", "馨园", "天骄", "丽都", "水岸", "澜山",
    "君悦", "润泽", "融城", "铂金", "观澜", "云顶", "景秀", "秀水", "晴川", "望湖", "临江", "星河",
    "紫薇", "青松", "绿野", "香榭", "枫丹", "玫瑰", "百合", "牡丹", "芙蓉", "海韵", "山水", "福苑",
)
COMPOUND_SUFFIXES = (
    ("花园", "Garden"), ("小区", "Estate"), ("家园", "Homes"), ("苑", "Court"),
    ("公寓", "Apartments"), ("新村", "New Village"), ("华府", "Residences"), ("里", "Lane"),
)
HOUSING_SUFFIX = ("平房片区", "Cottage Area")
ORDINALS = "一二三四五六七八九十"


# Readings the phrase dictionary gets wrong for place names.
PINYIN_OVERRIDES = {"朝阳": "Chaoyang", "长安": "Chang'an", "向阳": "Xiangyang", "重庆": "Chongqing"}


def pinyin(text: str) -> str:
    """Capitalised pinyin of a Chinese stem (``'和平'`` -> ``'Heping'``)."""
    for zh, en in PINYIN_OVERRIDES.items():
        if text.startswith(zh):
            return en + "".join(lazy_pinyin(text[len(zh):], v_to_u=True))
    return "".join(lazy_pinyin(text, v_to_u=True)).capitalize()


def ordinal_zh(n: int) -> str:
    """Chinese numeral for 1..99."""
    if n <= 10:
        return ORDINALS[n - 1]
    tens, ones = divmod(n, 10)
    return (ORDINALS[tens - 1] if tens > 1 else "") + "十" + (ORDINALS[ones - 1] if ones else "")


def pick_stems(stems: tuple[str, ...], n: int, rng: np.random.Generator) -> list[str]:
    """``n`` distinct stems in a seeded order (numbered variants once the list runs out)."""
    order = list(rng.permutation(len(stems)))
    out = [stems[i] for i in order[:n]]
    k = 2
    while len(out) < n:
        out += [f"{stems[i]}{ordinal_zh(k)}" for i in order[: n - len(out)]]
        k += 1
    return out


def street_names(n: int, rng: np.random.Generator) -> list[tuple[str, str]]:
    """``(name, name_en)`` for ``n`` streets (街道)."""
    return [(f"{s}街道", f"{pinyin(s)} Street") for s in pick_stems(STREET_STEMS, n, rng)]


def community_names(n: int, rng: np.random.Generator) -> list[tuple[str, str]]:
    """``(name, name_en)`` for ``n`` communities (社区)."""
    return [(f"{s}社区", f"{pinyin(s)} Community") for s in pick_stems(COMMUNITY_STEMS, n, rng)]


def compound_names(
    n: int, housing: list[bool], rng: np.random.Generator
) -> list[tuple[str, str]]:
    """``(name, name_en)`` for ``n`` compounds (小区); ``housing[i]`` marks cottage areas."""
    used: dict[str, int] = {}
    out = []
    for i in range(n):
        stem = COMPOUND_STEMS[int(rng.integers(len(COMPOUND_STEMS)))]
        if housing[i]:
            zh, en = HOUSING_SUFFIX
        else:
            zh, en = COMPOUND_SUFFIXES[int(rng.integers(len(COMPOUND_SUFFIXES)))]
        base_zh, base_en = f"{stem}{zh}", f"{pinyin(stem)} {en}"
        k = used.get(base_zh, 0) + 1
        used[base_zh] = k
        if k == 1:
            out.append((base_zh, base_en))
        else:
            out.append((f"{base_zh}（{k}）", f"{base_en} ({k})"))
    return out
