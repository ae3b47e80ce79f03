"""Deterministic synthetic LIC2019-format dataset, so the pipeline runs with no download.

Sentences are Chinese, built from templates over invented entities (names are
combined from character pools, so the model must generalise from context rather
than memorise names). A small shared "world" of entities with fixed facts recurs
across sentences (as real entities do, which the distant-supervision prior needs);
the other entities are fresh. Names whose CRC32 falls in a fixed share are
*held out*: they never appear in train, so dev/test measure generalisation.
All five patterns of method.md section 1 are produced on purpose; ``--stats``
prints their shares. ``postag`` comes from ``jieba.posseg`` as in LIC2019.

    python -m dgcnn_ie.synthetic --out data/synthetic --seed 7 --stats

(``python -m dgcnn_ie.synthetic.generate`` is the same.)
"""
from __future__ import annotations

import argparse
import json
import logging
import random
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import jieba
import jieba.posseg

from dgcnn_ie.files import atomic_write

jieba.setLogLevel(logging.WARNING)

# (subject_type, predicate, object_type), in the all_50_schemas style; 成立日期 is
# listed twice with two subject types, as in the real LIC2019 schema.
SCHEMA = [
    ("图书作品", "作者", "人物"),
    ("书籍", "出版社", "出版社"),
    ("影视作品", "导演", "人物"),
    ("影视作品", "主演", "人物"),
    ("歌曲", "歌手", "人物"),
    ("歌曲", "作词", "人物"),
    ("歌曲", "作曲", "人物"),
    ("歌曲", "所属专辑", "音乐专辑"),
    ("人物", "出生地", "地点"),
    ("人物", "出生日期", "Date"),
    ("人物", "国籍", "国家"),
    ("人物", "妻子", "人物"),
    ("人物", "丈夫", "人物"),
    ("人物", "父亲", "人物"),
    ("企业", "成立日期", "Date"),
    ("机构", "成立日期", "Date"),
    ("企业", "创始人", "人物"),
]
TYPES = {p: (s, o) for s, p, o in SCHEMA if (s, p) != ("机构", "成立日期")}

HELD_OUT_PERCENT = 20  # share of all possible names reserved for dev/test
EVAL_HELD_OUT_RATE = 0.6  # chance that a fresh dev/test entity is a held-out one
WORLD_RATE = 0.35  # chance that a sentence's main entity comes from the shared world
MAX_CHARS = 120

# ---- character and word pools ------------------------------------------------
SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦方白邹孟熊秦邱江尹薛段雷侯龙史陶黎贺顾毛郝龚邵万钱严武戴莫孔汤")
SURNAMES += ["欧阳", "司马", "上官", "诸葛", "东方", "慕容", "皇甫", "令狐"]
MALE = "伟刚勇毅俊峰强军平东文辉力明永健世广志义兴良海山仁波贵福生龙元全国胜学祥才发武新利清飞彬富顺信子杰涛昌成康星光天达安岩中茂进林坚和博诚先敬振壮思群豪心邦承乐绍功松善厚庆磊民友裕河哲江超浩亮政谦奇之翰朗伯宏言鸣朋斌栋维启克伦翔旭鹏泽晨辰士建家树德行泰盛雄钧冠策腾航弘"
FEMALE = "秀娟英华慧巧美娜静淑惠珠翠雅芝玉萍红娥玲芬芳燕彩春菊兰凤洁梅琳素云莲真雪荣爱霞香月莺媛艳瑞佳嘉琼珍贞莉桂叶璐娅琦晶妍茜秋珊莎锦黛青倩婷婉娴瑾颖露瑶怡雁蓓仪荷丹蓉君琴蕊薇菁梦岚婕馨韵悦冰琬茗羽欣滢筠柔凝晓芸菲伊宜舒丽妮晴雯萱彦雨曼紫蝶菡"
PROVINCES = ["浙江", "江苏", "湖南", "湖北", "四川", "山东", "河北", "河南", "广东", "福建", "安徽", "江西", "山西", "陕西", "辽宁", "吉林", "云南", "贵州", "甘肃", "广西"]
CITY1 = "临青云安平长永宁新东清白丰华兴泰嘉岳桐溪梅枫汉金玉龙凤鹤桂"
CITY2 = "川阳江州山城源溪安河台湖门陵丘原林浦都峰沙口坪"
COUNTRIES = ["中国"] * 8 + ["美国", "英国", "法国", "德国", "日本", "韩国", "加拿大", "澳大利亚", "新加坡", "马来西亚", "意大利", "俄罗斯", "西班牙", "泰国", "新西兰"]
BOOK_A = ["远山", "星河", "雪夜", "青铜", "长河", "孤城", "春风", "暗夜", "白鹿", "红尘", "晚潮", "旧梦", "海棠", "寒江", "北国", "南山", "云端", "烟雨", "明月", "沧海", "落日", "故园", "流年", "荒原", "黎明", "山河", "草木", "深海", "人间", "古道", "边城", "长夜"]
BOOK_B = ["往事", "笔记", "纪事", "简史", "十讲", "之歌", "之城", "传奇", "记忆", "物语", "手记", "札记", "春秋", "故事", "岁月", "图典", "研究", "导论", "拾遗", "漫谈", "散记", "年华", "旧事", "志异", "随想", "密码", "之书", "三部曲"]
SELF_TITLED = ["自传", "回忆录", "日记", "文集", "诗选", "散文集", "自选集", "书信集", "作品集", "随笔"]
FILM_A = ["风暴", "无间", "追凶", "迷城", "破晓", "烈火", "天涯", "归途", "长安", "刑警", "猎狐", "暗战", "决战", "青春", "大唐", "江湖", "少年", "暖冬", "重案", "深渊", "飞驰", "逆光", "守护", "巅峰", "海上", "极地", "城南", "北平"]
FILM_B = ["行动", "之路", "岁月", "风云", "密令", "英雄", "时代", "往事", "追踪", "谜案", "使命", "传说", "人生", "战记", "之恋", "日记", "对决", "迷局", "花开", "归来", "十二时辰", "档案", "特工", "少年"]
SONG_A = ["月光", "夏天", "晚风", "告白", "远方", "雨季", "星空", "花海", "海边", "老街", "北方", "南方", "青春", "时光", "初恋", "夜空", "清晨", "风铃", "樱花", "蓝色", "白色", "旧城", "回忆", "故乡"]
SONG_B = ["情书", "之恋", "的歌", "小夜曲", "不说", "慢慢", "等待", "来信", "物语", "的约定", "里的你", "之旅", "恋曲", "独白", "练习曲", "之歌", "的秘密", "告别", "飞行", "心愿"]
ALBUM_A = ["自由", "梦想", "光年", "城市", "旅行", "未来", "幻想", "十年", "奇迹", "星球", "森林", "宇宙", "心跳", "起点", "无限", "第一", "彩虹", "天空", "温柔", "勇敢"]
ALBUM_B = ["时代", "之旅", "日记", "乐园", "计划", "频率", "序曲", "纪念", "主义", "物语", "之城", "地图", "练习", "季节"]
PUB_FIELDS = ["人民", "文艺", "教育", "科学技术", "少年儿童", "美术", "古籍", "音乐", "大学", "电子", "文化", "工业"]
BRAND = "华泰锐博联创恒信达盛鑫源腾飞宏远凯瑞天越海诚新中科金汇众星光合益佳龙德"
INDUSTRIES = ["科技", "网络", "文化传媒", "生物医药", "食品", "电子", "投资", "影视", "教育科技", "新能源", "软件", "体育用品", "服饰", "物流", "餐饮管理"]
COMPANY_FORMS = ["有限公司", "股份有限公司", "集团有限公司", "集团", "有限责任公司"]
INSTITUTIONS = ["大学", "师范学院", "理工学院", "职业技术学院", "第一中学", "实验中学", "人民医院", "中医院", "图书馆", "博物馆", "研究院", "艺术学院"]
OCCUPATIONS = ["演员", "歌手", "作家", "导演", "主持人", "企业家", "画家", "作曲家", "编剧", "词作家", "运动员", "教授", "商人", "诗人", "模特"]
FILM_KINDS = ["电影", "电视剧", "网络剧", "动画电影", "纪录片", "微电影", "电视连续剧"]
BOOK_GENRES = ["长篇小说", "短篇小说集", "散文集", "科幻小说", "历史小说", "推理小说", "诗集", "网络小说", "学术著作", "儿童文学作品"]
FILM_GENRES = ["古装", "悬疑", "爱情", "都市", "喜剧", "动作", "战争", "家庭", "青春", "科幻"]
SITES = ["起点中文网", "晋江文学城", "纵横中文网", "红袖添香", "17K小说网"]
PREFIXES = ["", "", "", "", "内容简介：", "据报道，", "资料显示，", "简介：", "基本信息：", "人物简介：", "本词条所述：", "值得一提的是，"]
NOISE = {
    "any": ["在当时引起了广泛关注", "受到了业内人士的一致好评", "这一消息很快传开", "一度登上热搜榜", "网友纷纷点赞", "引发了不少讨论"],
    "book": ["深受读者喜爱", "该书自出版以来多次再版", "全书共{n}章", "讲述了一个关于成长的故事", "曾获得茅盾文学奖提名", "销量突破{n}万册", "是一部不可多得的佳作"],
    "film": ["该片讲述了一段感人的故事", "影片在{city}取景拍摄", "票房突破{n}亿元", "豆瓣评分高达{d}.{d}分", "共{n}集", "荣获最佳影片奖", "于{year}在全国上映"],
    "song": ["旋律优美动听", "这首歌曾在各大音乐榜单上名列前茅", "一经推出便广受欢迎", "MV播放量超过{n}万次", "是一首抒情慢歌", "歌词充满了对家乡的思念"],
    "person": ["毕业于{inst}", "曾获{year}度最佳新人奖", "{year}开始从事演艺工作", "现居{city}", "身高{h}cm", "血型为A型", "性格开朗", "爱好摄影和旅行"],
    "company": ["总部位于{city}", "注册资本{n}万元", "主要从事软件开发业务", "员工超过{n}人", "是国家高新技术企业", "业务遍及全国{d}个省份"],
    "inst": ["位于{city}", "占地面积{n}亩", "现有职工{n}余人", "是当地历史最悠久的机构之一", "馆藏丰富"],
}


@dataclass
class Person:
    name: str
    surname: str
    gender: str  # "m" | "f"
    birth_date: str
    birth_place: str
    country: str
    occupation: str
    father: Person | None = None
    spouse: Person | None = None


@dataclass
class Book:
    title: str
    author: Person
    publisher: str
    year: str
    self_titled: bool  # the title contains the author's name: pattern 5


@dataclass
class Film:
    title: str
    director: Person
    actors: list[Person]
    kind: str


@dataclass
class Song:
    title: str
    singer: Person
    lyricist: Person
    composer: Person
    album: str


@dataclass
class Company:
    name: str
    founder: Person
    date: str
    founder_named: bool  # the name contains the founder's: pattern 5


@dataclass
class Sentence:
    """A text under construction with its triples (s, p, o, subject_type, object_type)."""

    parts: list[str] = field(default_factory=list)
    triples: list[tuple[str, str, str, str, str]] = field(default_factory=list)

    def add(self, s: str, p: str, o: str, subject_type: str | None = None) -> None:
        st, ot = TYPES[p]
        triple = (s, p, o, subject_type or st, ot)
        if triple not in self.triples:
            self.triples.append(triple)


def is_held_out(name: str) -> bool:
    """A name is held out (dev/test only) by a fixed hash, whatever the seed."""
    return zlib.crc32(name.encode("utf-8")) % 100 < HELD_OUT_PERCENT


class Factory:
    """Makes entities with their facts; ``policy`` decides which names are allowed.

    policy "train": never a held-out name; "eval": held-out with EVAL_HELD_OUT_RATE.
    """

    def __init__(self, rng: random.Random, policy: str):
        self.rng = rng
        self.policy = policy

    def _want_held(self) -> bool:
        return self.policy == "eval" and self.rng.random() < EVAL_HELD_OUT_RATE

    def named(self, make) -> str:
        """Draw names until one has the wanted held-out status; in dev/test that is
        only a preference (a small pool may have no held-out name at all)."""
        want = self._want_held()
        for i in range(10_000):
            name = make()
            if is_held_out(name) == want or (self.policy == "eval" and i >= 50):
                return name
        raise RuntimeError("no name outside the held-out share in this pool")

    # ---- raw names
    def given(self, gender: str) -> str:
        pool = MALE if gender == "m" else FEMALE
        n = 1 if self.rng.random() < 0.3 else 2
        return "".join(self.rng.choice(pool) for _ in range(n))

    def city(self) -> str:
        return self.rng.choice(CITY1) + self.rng.choice(CITY2)

    def place(self) -> str:
        r, prov, city = self.rng.random(), self.rng.choice(PROVINCES), self.city()
        if r < 0.35:
            return f"{prov}省{city}市"
        if r < 0.6:
            return f"{prov}{city}"
        if r < 0.8:
            return f"{city}市"
        return f"{prov}省{city}县"

    def date(self, lo: int, hi: int) -> str:
        y, r = self.rng.randint(lo, hi), self.rng.random()
        if r < 0.5:
            return f"{y}年{self.rng.randint(1, 12)}月{self.rng.randint(1, 28)}日"
        if r < 0.75:
            return f"{y}年{self.rng.randint(1, 12)}月"
        return f"{y}年"

    # ---- entities
    def person(self, gender: str | None = None, surname: str | None = None, relatives: bool = True) -> Person:
        gender = gender or self.rng.choice("mf")
        sur = surname or self.rng.choice(SURNAMES)
        name = self.named(lambda: sur + self.given(gender))
        p = Person(name, sur, gender, self.date(1930, 2005), self.named(self.place),
                   self.rng.choice(COUNTRIES), self.rng.choice(OCCUPATIONS))
        if relatives:
            if self.rng.random() < 0.5:
                p.father = self.person("m", surname=sur, relatives=False)
            if self.rng.random() < 0.5:
                p.spouse = self.person("f" if gender == "m" else "m", relatives=False)
        return p

    def head(self, words: list[str]) -> str:
        """A pool word, or a new one from the first and last characters of two:
        enough distinct titles that unrelated works rarely share one."""
        if self.rng.random() < 0.2:
            return self.rng.choice(words)
        return self.rng.choice(words)[0] + self.rng.choice(words)[-1]

    def book(self, author: Person, self_titled: bool) -> Book:
        if self.policy == "train" and all(is_held_out(author.name + x) for x in SELF_TITLED):
            self_titled = False
        def title():
            if self_titled:
                return author.name + self.rng.choice(SELF_TITLED)
            a, b = self.head(BOOK_A), self.rng.choice(BOOK_B)
            return f"{a}的{b}" if self.rng.random() < 0.15 else a + b
        return Book(self.named(title), author, self.publisher(), self.date(1950, 2022), self_titled)

    def publisher(self) -> str:
        def make():
            pre = self.rng.choice(PROVINCES) if self.rng.random() < 0.5 else self.city()
            return f"{pre}{self.rng.choice(PUB_FIELDS)}出版社"
        return self.named(make)

    def film(self, director: Person, actors: list[Person]) -> Film:
        def title():
            t = self.head(FILM_A) + self.rng.choice(FILM_B)
            return t + self.rng.choice("23") if self.rng.random() < 0.08 else t
        return Film(self.named(title), director, actors, self.rng.choice(FILM_KINDS))

    def song(self, singer: Person, lyricist: Person, composer: Person) -> Song:
        def title():
            return self.head(SONG_A) + self.rng.choice(SONG_B)
        def album():
            return self.head(ALBUM_A) + self.rng.choice(ALBUM_B)
        return Song(self.named(title), singer, lyricist, composer, self.named(album))

    def company(self, founder: Person, founder_named: bool) -> Company:
        def make():
            head = founder.name if founder_named else "".join(self.rng.sample(BRAND, 2))
            if not founder_named and self.rng.random() < 0.3:
                head = self.city() + "市" + head
            return head + self.rng.choice(INDUSTRIES) + self.rng.choice(COMPANY_FORMS)
        return Company(self.named(make), founder, self.date(1950, 2022), founder_named)

    def institution(self) -> str:
        def make():
            return self.city() + self.rng.choice(INSTITUTIONS)
        return self.named(make)


class World:
    """Entities with fixed facts that recur across sentences (and splits)."""

    def __init__(self, seed: int):
        f = Factory(random.Random(f"{seed}-world"), "train")
        self.persons = [f.person() for _ in range(150)]
        rng = f.rng
        self.books = [f.book(rng.choice(self.persons), rng.random() < 0.45) for _ in range(80)]
        self.films = []
        for _ in range(60):
            d, actors = rng.choice(self.persons), rng.sample(self.persons, rng.randint(1, 3))
            self.films.append(f.film(d, [d] + actors[1:] if rng.random() < 0.45 else actors))
        self.songs = []
        for _ in range(80):
            singer, lyr, comp = (rng.choice(self.persons) for _ in range(3))
            if rng.random() < 0.55:
                comp = lyr
            self.songs.append(f.song(singer, lyr, comp))
        self.companies = [f.company(rng.choice(self.persons), rng.random() < 0.3) for _ in range(40)]
        self.institutions = [(f.institution(), f.date(1900, 2010)) for _ in range(25)]


class SentenceMaker:
    """Verbalises facts of world or fresh entities with varied templates."""

    def __init__(self, rng: random.Random, world: World, policy: str):
        self.rng = rng
        self.world = world
        self.f = Factory(rng, policy)

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def fill(self, template: str) -> str:
        r = self.rng
        return template.format(n=r.randint(2, 90), d=r.randint(3, 9), year=f"{r.randint(1980, 2022)}年",
                               city=self.f.city() + "市", inst=self.f.institution(), h=r.randint(155, 190))

    def noise(self, kind: str) -> str:
        return self.fill(self.rng.choice(NOISE[kind] + NOISE["any"]))

    def join(self, items: list[str]) -> str:
        if len(items) == 2 and self.chance(0.5):
            return f"{items[0]}和{items[1]}"
        return "、".join(items)

    def titled(self, title: str, bare: float = 0.1) -> str:
        return title if self.chance(bare) else f"《{title}》"

    # ---- entity sources: the shared world or a fresh one
    def any_person(self) -> Person:
        return self.rng.choice(self.world.persons) if self.chance(WORLD_RATE) else self.f.person()

    def any_book(self) -> Book:
        if self.chance(WORLD_RATE):
            return self.rng.choice(self.world.books)
        return self.f.book(self.any_person(), self.chance(0.5))

    def any_film(self) -> Film:
        if self.chance(WORLD_RATE):
            return self.rng.choice(self.world.films)
        d = self.any_person()
        actors = [self.any_person() for _ in range(self.rng.randint(1, 3))]
        return self.f.film(d, [d] + actors[1:] if self.chance(0.45) else actors)

    def any_song(self) -> Song:
        if self.chance(WORLD_RATE):
            return self.rng.choice(self.world.songs)
        singer, lyr = self.any_person(), self.any_person()
        r = self.rng.random()
        comp = lyr if r < 0.6 else self.any_person()
        if r < 0.2:
            lyr = comp = singer
        return self.f.song(singer, lyr, comp)

    def any_company(self) -> Company:
        if self.chance(WORLD_RATE):
            return self.rng.choice(self.world.companies)
        return self.f.company(self.any_person(), self.chance(0.4))

    def mention_book(self, s: Sentence, b: Book) -> str:
        """A self-titled book states its author by its name alone (pattern 5)."""
        if b.self_titled:
            s.add(b.title, "作者", b.author.name)
        return self.titled(b.title)

    # ---- scenes: each returns a Sentence with at least one clause
    def book_scene(self) -> Sentence:
        s = Sentence()
        if self.chance(0.2):
            return self.books_sharing(s)
        b = self.any_book()
        B, a, pub, year = self.mention_book(s, b), b.author.name, b.publisher, b.year
        leads = [
            (f"{B}是{a}创作的{self.rng.choice(BOOK_GENRES)}", "作者"),
            (f"{B}是{a}的代表作", "作者"),
            (f"{B}的作者是{a}", "作者"),
            (f"{a}所著的{B}", "作者"),
            (f"{B}是网络作家{a}在{self.rng.choice(SITES)}连载的小说", "作者"),
            (f"{B}由{pub}出版", "出版社"),
            (f"{B}是{year}{pub}出版的图书", "出版社"),
            (f"{B}是一部{self.rng.choice(BOOK_GENRES)}", None),
            (f"图书{B}", None),
        ]
        follows = {
            "作者": [f"作者是{a}", f"{a}著", f"作者：{a}", f"由{a}编写", f"{a}历时{self.rng.randint(2, 9)}年写成"],
            "出版社": [f"由{pub}出版", f"{year}由{pub}出版发行", f"出版社：{pub}", f"{pub}于{year}出版"],
        }
        return self._compose(s, leads, follows, b, "book")

    def _compose(self, s: Sentence, leads, follows, ent, noise_kind: str) -> Sentence:
        """Lead clause (stating zero or more facts, "a+b"), then follow clauses for
        facts not yet stated, with noise clauses in between."""
        lead, tag = self.rng.choice(leads)
        stated = tag.split("+") if tag else []
        rest = [q for q in follows if q not in stated]
        self.rng.shuffle(rest)
        k = self.rng.randint(0 if stated else 1, len(rest))
        clauses = [lead]
        for q in rest[:k]:
            clauses.append(self.rng.choice(follows[q]))
            stated.append(q)
        for t in self.rng.sample(NOISE[noise_kind] + NOISE["any"], self.rng.choice([0, 0, 1, 1, 2])):
            clauses.insert(self.rng.randint(1, len(clauses)), self.fill(t))
        s.parts.append("，".join(clauses))
        for q in stated:
            self._state(s, ent, q)
        return s

    def _state(self, s: Sentence, ent, q: str) -> None:
        if isinstance(ent, Book):
            s.add(ent.title, q, ent.author.name if q == "作者" else ent.publisher)
        elif isinstance(ent, Film):
            if q == "导演":
                s.add(ent.title, q, ent.director.name)
            else:
                for a in ent.actors:
                    s.add(ent.title, q, a.name)
        elif isinstance(ent, Song):
            o = {"歌手": ent.singer.name, "作词": ent.lyricist.name, "作曲": ent.composer.name,
                 "所属专辑": ent.album}[q]
            s.add(ent.title, q, o)
        elif isinstance(ent, Company):
            s.add(ent.name, q, ent.founder.name if q == "创始人" else ent.date)
        elif isinstance(ent, Person):
            o = {"出生地": ent.birth_place, "出生日期": ent.birth_date, "国籍": ent.country}[q]
            s.add(ent.name, q, o)

    def books_sharing(self, s: Sentence) -> Sentence:
        """Several books with one author or publisher (pattern 3)."""
        a = self.any_person()
        books = [self.f.book(a, self.chance(0.3)) for _ in range(self.rng.randint(2, 3))]
        titles = [self.mention_book(s, b) for b in books]
        if self.chance(0.6):
            t = self.rng.choice(["{ts}都是{a}的作品", "{a}著有{ts}等作品", "{a}的代表作有{ts}", "{ts}均出自{a}之手"])
            s.parts.append(t.format(ts=self.join(titles), a=a.name))
            for b in books:
                s.add(b.title, "作者", a.name)
        else:
            pub = self.f.publisher()
            t = self.rng.choice(["{ts}均由{pub}出版", "{pub}出版了{ts}等图书", "{ts}都是{pub}推出的"])
            s.parts.append(t.format(ts=self.join(titles), pub=pub))
            for b in books:
                s.add(b.title, "出版社", pub)
        return s

    def film_scene(self) -> Sentence:
        s = Sentence()
        if self.chance(0.2):
            return self.films_sharing(s)
        f = self.any_film()
        F, d, kind = self.titled(f.title, 0.05), f.director.name, f.kind
        genre = self.rng.choice(FILM_GENRES)
        if f.director in f.actors:  # (film, 导演, d) and (film, 主演, d): pattern 4
            lead = self.rng.choice([f"{F}是{d}自导自演的{kind}", f"{F}由{d}执导并主演",
                                    f"{d}自编自导自演的{genre}{kind}{F}", f"{F}是一部由{d}导演并主演的{kind}"])
            clauses = [lead]
            others = [a.name for a in f.actors if a is not f.director]
            if others:
                clauses.append(self.rng.choice(["{o}等参与主演", "{o}也在片中担任主演", "主演还有{o}"]).format(o=self.join(others)))
            if self.chance(0.5):
                clauses.append(self.noise("film"))
            s.parts.append("，".join(clauses))
            self._state(s, f, "导演")
            self._state(s, f, "主演")
            return s
        acts = self.join([a.name for a in f.actors])
        leads = [
            (f"{F}是由{d}执导的{genre}{kind}", "导演"),
            (f"{kind}{F}由{d}导演", "导演"),
            (f"{F}是{self.fill('{year}')}上映的一部{genre}{kind}", None),
            (f"{acts}主演的{kind}{F}", "主演"),
            (f"{F}是一部由{acts}领衔主演的{kind}", "主演"),
        ]
        follows = {
            "导演": [f"由{d}执导", f"导演为{d}", f"{d}担任导演", f"导演：{d}"],
            "主演": [f"{acts}领衔主演", f"{acts}等主演", f"主演：{acts}", f"{acts}参与主演"],
        }
        return self._compose(s, leads, follows, f, "film")

    def films_sharing(self, s: Sentence) -> Sentence:
        """Several films with one director or actor (pattern 3)."""
        p = self.any_person()
        films = [self.f.film(p, []) for _ in range(self.rng.randint(2, 3))]
        ts = self.join([self.titled(x.title) for x in films])
        if self.chance(0.5):
            t = self.rng.choice(["{ts}都是{p}执导的作品", "{p}先后执导了{ts}", "{ts}均由{p}担任导演"])
            pred = "导演"
        else:
            t = self.rng.choice(["{p}先后主演了{ts}等影视作品", "{ts}的主演都是{p}", "{p}曾出演{ts}"])
            pred = "主演"
        s.parts.append(t.format(ts=ts, p=p.name))
        for x in films:
            s.add(x.title, pred, p.name)
        return s

    def song_scene(self) -> Sentence:
        s = Sentence()
        if self.chance(0.2):
            return self.songs_sharing(s)
        g = self.any_song()
        S, singer, lyr, comp, A = self.titled(g.title, 0.05), g.singer.name, g.lyricist.name, g.composer.name, self.titled(g.album, 0.05)
        if lyr == comp and self.chance(0.8):  # one person writes both: pattern 4
            t = self.rng.choice(["{S}是一首由{p}作词作曲的歌曲", "{S}由{p}包办词曲", "{S}的词曲作者均为{p}",
                                 "{S}由{p}作词、作曲", "{S}，{p}作词作曲"])
            if singer == lyr and self.chance(0.5):
                t = self.rng.choice(["{S}是{p}作词作曲并演唱的歌曲", "{S}由{p}自己作词作曲并演唱", "{S}，词曲及演唱：{p}"])
                s.add(g.title, "歌手", singer)
            clauses = [t.format(S=S, p=lyr)]
            s.add(g.title, "作词", lyr)
            s.add(g.title, "作曲", comp)
            if self.chance(0.4):
                clauses.append(f"收录于专辑{A}中")
                s.add(g.title, "所属专辑", g.album)
            if self.chance(0.4):
                clauses.append(self.noise("song"))
            s.parts.append("，".join(clauses))
            return s
        leads = [
            (f"{S}是{singer}演唱的一首歌曲", "歌手"),
            (f"{singer}演唱的{S}", "歌手"),
            (f"{S}是由{singer}演唱的{self.rng.choice(['流行歌曲', '歌曲', '单曲', '抒情歌曲'])}", "歌手"),
            (f"{S}是收录在专辑{A}中的一首歌", "所属专辑"),
            (f"{S}由{lyr}作词", "作词"),
            (f"{S}是一首{self.rng.choice(['流行', '摇滚', '民谣', '古风'])}歌曲", None),
        ]
        follows = {
            "歌手": [f"由{singer}演唱", f"演唱者为{singer}", f"{singer}演唱", f"原唱：{singer}"],
            "作词": [f"由{lyr}作词", f"{lyr}填词", f"作词：{lyr}"],
            "作曲": [f"{comp}作曲", f"由{comp}谱曲", f"作曲：{comp}"],
            "所属专辑": [f"收录于专辑{A}中", f"收录于{self.fill('{year}')}发行的专辑{A}", f"出自专辑{A}"],
        }
        return self._compose(s, leads, follows, g, "song")

    def songs_sharing(self, s: Sentence) -> Sentence:
        """Several songs with one singer, writer or album (pattern 3)."""
        p = self.any_person()
        songs = [self.f.song(p, p, p) for _ in range(self.rng.randint(2, 3))]
        ts = self.join([self.titled(x.title) for x in songs])
        r = self.rng.random()
        if r < 0.4:
            t, pred, o = self.rng.choice(["{p}演唱了{ts}等歌曲", "{ts}都是{p}演唱的歌曲", "{ts}的原唱是{p}"]), "歌手", p.name
        elif r < 0.7:
            t, pred, o = self.rng.choice(["{ts}均由{p}作词", "{p}为{ts}填词"]), "作词", p.name
        else:
            album = songs[0].album
            t, pred, o = self.rng.choice(["{ts}都收录于专辑{A}中", "专辑{A}收录了{ts}等歌曲"]), "所属专辑", album
        s.parts.append(t.format(ts=ts, p=p.name, A=self.titled(songs[0].album)))
        for x in songs:
            s.add(x.title, pred, o)
        return s

    def person_scene(self) -> Sentence:
        s = Sentence()
        r = self.rng.random()
        if r < 0.15:
            return self.persons_sharing(s)
        p = self.any_person()
        if r < 0.4 and (p.father or p.spouse):
            return self.family(s, p)
        P, date, place, country, occ = p.name, p.birth_date, p.birth_place, p.country, p.occupation
        sex = "男" if p.gender == "m" else "女"
        leads = [
            (f"{P}，{sex}，{date}出生于{place}", "出生日期+出生地"),
            (f"{P}（{date}－），{place}人", "出生日期+出生地"),
            (f"{P}，{country}{occ}", "国籍"),
            (f"{P}出生于{place}", "出生地"),
            (f"{P}是{country}著名{occ}", "国籍"),
            (f"{occ}{P}", None),
            (f"{P}，{sex}，{occ}", None),
        ]
        follows = {
            "出生日期": [f"{date}出生", f"出生于{date}", f"生于{date}"],
            "出生地": [f"出生于{place}", f"出生在{place}", f"{place}人"],
            "国籍": [f"{country}籍{occ}", f"国籍：{country}", f"{country}人"],
        }
        return self._compose(s, leads, follows, p, "person")

    def family(self, s: Sentence, p: Person) -> Sentence:
        """Father and spouse facts; a marriage yields both 妻子 and 丈夫."""
        clauses = [p.name if self.chance(0.5) else f"{p.occupation}{p.name}"]
        if p.father and (not p.spouse or self.chance(0.6)):
            clauses.append(self.rng.choice(["其父亲是{f}", "父亲为{f}", "是{f}的{cc}", "{f}之{c}"]).format(
                f=p.father.name, c="子" if p.gender == "m" else "女", cc="儿子" if p.gender == "m" else "女儿"))
            s.add(p.name, "父亲", p.father.name)
        if p.spouse and (len(clauses) == 1 or self.chance(0.5)):
            w = "妻子" if p.gender == "m" else "丈夫"
            clauses.append(self.rng.choice([f"{w}是{{sp}}", f"与{w}{{sp}}育有一子", f"{w}{{sp}}是一名{{occ}}", "与{sp}结为夫妻"]).format(
                sp=p.spouse.name, occ=p.spouse.occupation))
            s.add(p.name, w, p.spouse.name)
            s.add(p.spouse.name, "丈夫" if w == "妻子" else "妻子", p.name)
        if self.chance(0.5):
            clauses.insert(self.rng.randint(1, len(clauses)), self.noise("person"))
        s.parts.append("，".join(clauses))
        return s

    def persons_sharing(self, s: Sentence) -> Sentence:
        """Siblings with one father, or people born in one place (pattern 3)."""
        if self.chance(0.5):
            f = self.f.person("m", relatives=False)
            kids = [self.f.person(surname=f.surname, relatives=False) for _ in range(self.rng.randint(2, 3))]
            t = self.rng.choice(["{ks}都是{f}的孩子", "{f}育有{ks}", "{ks}的父亲都是{f}"])
            s.parts.append(t.format(ks=self.join([k.name for k in kids]), f=f.name))
            for k in kids:
                s.add(k.name, "父亲", f.name)
        else:
            place = self.f.named(self.f.place)
            people = [self.f.person(relatives=False) for _ in range(self.rng.randint(2, 3))]  # fresh: world facts stay fixed
            t = self.rng.choice(["{ps}都出生于{pl}", "{ps}均是{pl}人", "{pl}走出了{ps}等名人，他们都出生在这里"])
            s.parts.append(t.format(ps=self.join([x.name for x in people]), pl=place))
            for x in people:
                s.add(x.name, "出生地", place)
        return s

    def company_scene(self) -> Sentence:
        s = Sentence()
        if self.chance(0.15):
            return self.companies_sharing(s)
        if self.chance(0.25):
            return self.institution_scene(s)
        c = self.any_company()
        C, fo, date = c.name, c.founder.name, c.date
        leads = [
            (f"{C}成立于{date}", "成立日期"),
            (f"{C}是由{fo}创办的{self.rng.choice(INDUSTRIES)}企业", "创始人"),
            (f"{C}由{fo}创立", "创始人"),
            (f"{C}创办于{date}", "成立日期"),
            (f"{C}是一家{self.rng.choice(INDUSTRIES)}公司", None),
        ]
        if c.founder_named:  # the founder's name is inside the company's: state it (pattern 5)
            leads = leads[1:3]
        follows = {
            "成立日期": [f"{date}成立", f"成立于{date}", f"公司于{date}正式注册成立"],
            "创始人": [f"创始人为{fo}", f"由{fo}创办", f"{fo}是公司创始人"],
        }
        return self._compose(s, leads, follows, c, "company")

    def companies_sharing(self, s: Sentence) -> Sentence:
        p = self.any_person()
        cs = [self.f.company(p, False) for _ in range(2)]
        t = self.rng.choice(["{cs}都是{p}创办的公司", "{p}先后创办了{cs}"])
        s.parts.append(t.format(cs=self.join([c.name for c in cs]), p=p.name))
        for c in cs:
            s.add(c.name, "创始人", p.name)
        return s

    def institution_scene(self, s: Sentence) -> Sentence:
        if self.chance(0.4):
            name, date = self.rng.choice(self.world.institutions)
        else:
            name, date = self.f.institution(), self.f.date(1900, 2010)
        t = self.rng.choice(["{i}始建于{d}", "{i}创建于{d}", "{i}成立于{d}", "{i}的前身是一所私立学堂，于{d}正式成立"])
        clauses = [t.format(i=name, d=date)]
        if self.chance(0.5):
            clauses.append(self.noise("inst"))
        s.parts.append("，".join(clauses))
        s.add(name, "成立日期", date, subject_type="机构")
        return s

    def negative_scene(self) -> Sentence:
        """Entities in context, but no schema relation stated."""
        r, p = self.rng, self.any_person()
        book = self.any_book()
        while book.self_titled:
            book = self.any_book()
        t = r.choice([
            "{p}出席了在{city}举行的新书发布会", "{F}将于{year}在全国上映", "{C}今日发布了新一代产品",
            "{p}在接受采访时表示，自己非常喜欢{city}", "{B}一书在{city}举办了首发式", "{S}这首歌在网络上的播放量突破了{n}万次",
            "{p}和{q}在{city}共同出席了一场慈善晚会", "今天{city}天气晴朗，适合外出游玩", "{p}近日现身{city}街头",
            "{C}与{inst}签署了战略合作协议", "{p}表示{F}的拍摄非常辛苦", "{p}推荐了{B}这本书",
        ])
        text = t.format(p=p.name, q=self.f.person(relatives=False).name, F=self.titled(self.any_film().title),
                        C=self.any_company().name, B=self.titled(book.title), S=self.titled(self.any_song().title),
                        city=self.f.city() + "市", year=f"{r.randint(2000, 2024)}年", n=r.randint(2, 90),
                        inst=self.f.institution())
        return Sentence([text])

    def sentence(self) -> Sentence:
        """One or two scenes, an optional prefix and final punctuation."""
        scenes = [(self.book_scene, 17), (self.film_scene, 17), (self.song_scene, 17), (self.person_scene, 19),
                  (self.company_scene, 12), (self.negative_scene, 9)]
        fns, weights = zip(*scenes)
        s = self.rng.choices(fns, weights)[0]()
        if self.chance(0.15):
            t = self.rng.choices(fns, weights)[0]()
            if len("".join(s.parts + t.parts)) < MAX_CHARS - 6:
                s.parts += t.parts
                for tr in t.triples:
                    if tr not in s.triples:
                        s.triples.append(tr)
        prefix = self.rng.choice(PREFIXES)
        end = self.rng.choice(["", "", "。"])
        s.parts = [prefix + (self.rng.choice(["。", "；"]).join(s.parts)) + end]
        return s


def postag(text: str) -> list[dict]:
    return [{"word": w.word, "pos": w.flag} for w in jieba.posseg.cut(text)]


def record(s: Sentence, with_postag: bool) -> dict:
    """One LIC2019 line; `postag` is optional there and unused by the model, so it is off by default (size)."""
    text = s.parts[0]
    spo = [{"subject": a, "predicate": p, "object": o, "subject_type": st, "object_type": ot}
           for a, p, o, st, ot in s.triples]
    return {"text": text, "postag": postag(text), "spo_list": spo} if with_postag else {"text": text, "spo_list": spo}


def generate(seed: int, sizes: dict[str, int], with_postag: bool = False) -> dict[str, list[dict]]:
    """Records per split; texts are unique across all splits (no leakage by duplicates)."""
    world = World(seed)
    seen: set[str] = set()
    out = {}
    for split, n in sizes.items():
        maker = SentenceMaker(random.Random(f"{seed}-{split}"), world, "train" if split == "train" else "eval")
        rows = []
        while len(rows) < n:
            s = maker.sentence()
            text = s.parts[0]
            if text in seen or len(text) > MAX_CHARS:
                continue
            seen.add(text)
            rows.append(record(s, with_postag))
        out[split] = rows
    return out


def write(out: Path, data: dict[str, list[dict]]) -> None:
    for split, rows in data.items():
        with atomic_write(out / f"{split}.json") as fh:
            for r in rows:
                fh.write(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n")
    with atomic_write(out / "schema.json") as fh:
        for st, p, ot in SCHEMA:
            fh.write(json.dumps({"object_type": ot, "predicate": p, "subject_type": st}, ensure_ascii=False) + "\n")


def patterns(rec: dict) -> set[str]:
    """Which of the five patterns (method.md section 1) a labelled record shows."""
    text, spo = rec["text"], rec["spo_list"]
    found = set()
    cuts, i = {0}, 0
    for w in jieba.lcut(text):
        i += len(w)
        cuts.add(i)
    for t in spo:
        for e in (t["subject"], t["object"]):
            start = text.find(e)
            if start not in cuts or start + len(e) not in cuts:
                found.add("1 boundary not a word boundary")
    subj, po, so = Counter(), Counter(), Counter()
    for t in {(t["subject"], t["predicate"], t["object"]) for t in spo}:
        subj[t[0]] += 1
        po[t[1:]] += 1
        so[(t[0], t[2])] += 1
        if t[0] != t[2] and (t[0] in t[2] or t[2] in t[0]):
            found.add("5 subject/object overlap")
    if any(v > 1 for v in subj.values()):
        found.add("2 one subject, several (p, o)")
    if any(v > 1 for v in po.values()):
        found.add("3 several subjects, one (p, o)")
    if any(v > 1 for v in so.values()):
        found.add("4 one (s, o), several p")
    if not spo:
        found.add("no triple")
    return found


def stats(data: dict[str, list[dict]]) -> str:
    """Markdown table of pattern shares and sizes per split."""
    train_entities = {e for r in data.get("train", []) for t in r["spo_list"] for e in (t["subject"], t["object"])}
    rows = {}
    for split, recs in data.items():
        c = Counter(p for r in recs for p in patterns(r))
        lens = [len(r["text"]) for r in recs]
        ents = [e for r in recs for t in r["spo_list"] for e in (t["subject"], t["object"])]
        row = {k: f"{100 * v / len(recs):.1f}%" for k, v in sorted(c.items())}
        row["sentences"] = str(len(recs))
        row["triples"] = str(sum(len(r["spo_list"]) for r in recs))
        row["text length min/mean/max"] = f"{min(lens)}/{sum(lens) / len(lens):.0f}/{max(lens)}"
        row["entity mentions unseen in train"] = f"{100 * sum(e not in train_entities for e in ents) / max(len(ents), 1):.1f}%"
        rows[split] = row
    keys = list(dict.fromkeys(k for r in rows.values() for k in r))
    lines = ["| | " + " | ".join(rows) + " |", "|---" * (len(rows) + 1) + "|"]
    lines += [f"| {k} | " + " | ".join(r.get(k, "0.0%") for r in rows.values()) + " |" for k in keys]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m dgcnn_ie.synthetic", description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("data/synthetic"))
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--train", type=int, default=1000)
    ap.add_argument("--dev", type=int, default=200)
    ap.add_argument("--test", type=int, default=200)
    ap.add_argument("--postag", action="store_true", help="add LIC2019's jieba-made `postag` field (3x the size)")
    ap.add_argument("--stats", action="store_true", help="print pattern shares per split (Markdown)")
    args = ap.parse_args(argv)
    data = generate(args.seed, {"train": args.train, "dev": args.dev, "test": args.test}, args.postag)
    write(args.out, data)
    if args.stats:
        print(stats(data))


if __name__ == "__main__":
    main()
