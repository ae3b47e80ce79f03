"""kg-2019's hand rules (dgcnn_ie.rules): each rule on a sentence it is about, alone, and the set applied
twice gives the same triples."""
import dataclasses

import pytest

from conftest import repo_params
from dgcnn_ie.config import config_from_dict
from dgcnn_ie.data import Schema, Triple
from dgcnn_ie.rules import LABEL_RULES, PREDICTION_RULES, RuleSet, repair_labels

T = Triple


def only(name, text, triples):
    return RuleSet.build([name]).apply(text, triples)


def test_spouse_symmetry():
    assert only("spouse_symmetry", "甲的妻子是乙", {T("甲", "妻子", "乙")}) == {T("甲", "妻子", "乙"), T("乙", "丈夫", "甲")}
    assert only("spouse_symmetry", "乙的丈夫是甲", {T("乙", "丈夫", "甲")}) == {T("乙", "丈夫", "甲"), T("甲", "妻子", "乙")}


def test_album_songs():
    triples = {T("光辉岁月", "所属专辑", "命运派对"), T("命运派对", "歌手", "黄家驹"), T("光辉岁月", "歌手", "黄家驹")}
    assert only("album_songs", "", triples) == triples - {T("命运派对", "歌手", "黄家驹")}
    # an album that is also a song (subject of 所属专辑) keeps its singer
    triples.add(T("命运派对", "所属专辑", "精选"))
    assert only("album_songs", "", triples) == triples


def test_taxon_rank_drops_family_and_genus_subjects_unless_nothing_is_left():
    triples = {T("猫科", "目", "食肉目"), T("家猫", "目", "食肉目")}
    assert only("taxon_rank", "", triples) == {T("家猫", "目", "食肉目")}
    assert only("taxon_rank", "", {T("猫科", "目", "食肉目"), T("豹属", "目", "食肉目")}) == {T("豹属", "目", "食肉目")}
    assert only("taxon_rank", "", {T("猫科", "目", "食肉目")}) == {T("猫科", "目", "食肉目")}


def test_nationality_party():
    t = {T("张三", "国籍", "中国")}
    assert only("nationality_party", "张三是中国共产党党员", t) == set()
    assert only("nationality_party", "张三是中国人，中国共产党党员", t) == t      # 中国 twice: kept


def test_author_organisation_and_self_relation():
    assert only("author_organisation", "", {T("书", "作者", "人民出版社"), T("书", "作者", "老舍")}) == {T("书", "作者", "老舍")}
    assert only("self_relation", "", {T("甲", "父亲", "甲"), T("甲", "父亲", "乙")}) == {T("甲", "父亲", "乙")}


def test_suffix_and_prefix_repairs():
    assert only("climate_prefix", "属于亚热带季风气候", {T("某地", "气候", "热带季风气候")}) == {T("某地", "气候", "亚热带季风气候")}
    assert only("climate_prefix", "热带季风气候", {T("某地", "气候", "热带季风气候")}) == {T("某地", "气候", "热带季风气候")}
    assert only("ancestral_home_suffix", "", {T("甲", "祖籍", "福建人")}) == {T("甲", "祖籍", "福建")}
    assert only("publisher_suffix", "由人民文学出版社出版", {T("书", "出版社", "人民文学")}) == {T("书", "出版社", "人民文学出版社")}
    text = "华谊兄弟传媒股份有限公司成立于1994年，出品方为光线传媒有限公司"
    assert only("company_suffix", text, {T("华谊兄弟", "成立日期", "1994年")}) == {T("华谊兄弟传媒股份有限公司", "成立日期", "1994年")}
    assert only("company_suffix", text, {T("电影", "出品公司", "光线")}) == {T("电影", "出品公司", "光线传媒有限公司")}


def test_split_and_merge_objects():
    assert only("split_objects", "", {T("电影", "主演", "甲、乙，丙")}) == {T("电影", "主演", x) for x in "甲乙丙"}
    # one object inside the other, not next to 和 / 的: the longer one
    assert only("merge_objects", "", {T("甲", "毕业院校", "北京大学"), T("甲", "毕业院校", "北京大学医学部")}) == \
        {T("甲", "毕业院校", "北京大学医学部")}
    kept = {T("甲", "作者", "张三"), T("甲", "作者", "张三和李四")}
    assert only("merge_objects", "", kept) == kept
    # two ASCII words that the text writes with a space: one object
    assert only("merge_objects", "by Taylor Swift", {T("歌", "歌手", "taylor"), T("歌", "歌手", "swift")}) == \
        {T("歌", "歌手", "taylor swift")}
    # the same for two subjects of one (object, predicate)
    assert only("merge_objects", "", {T("北京大学", "校长", "甲"), T("北京大学医学部", "校长", "甲")}) == \
        {T("北京大学医学部", "校长", "甲")}


def test_parents_spouses():
    got = only("parents_spouses", "", {T("孩子", "父亲", "爸"), T("孩子", "母亲", "妈")})
    assert {T("爸", "妻子", "妈"), T("妈", "丈夫", "爸")} <= got
    got = only("parents_spouses", "", {T("孩子", "父亲", "爸"), T("爸", "妻子", "妈")})
    assert T("孩子", "母亲", "妈") in got


def test_all_rules_together():
    text = "《光辉岁月》收录于专辑命运派对，甲的妻子是乙，甲的父亲是丙、丁"
    triples = {T("光辉岁月", "所属专辑", "命运派对"), T("命运派对", "歌手", "黄家驹"), T("甲", "妻子", "乙"),
               T("甲", "父亲", "丙、丁"), T("甲", "父亲", "甲")}
    once = RuleSet.build(PREDICTION_RULES).apply(text, triples)
    assert T("乙", "丈夫", "甲") in once and T("命运派对", "歌手", "黄家驹") not in once
    assert {T("甲", "父亲", "丙"), T("甲", "父亲", "丁")} <= once and T("甲", "父亲", "甲") not in once
    assert RuleSet().apply(text, triples) == triples


def test_some_rules_are_not_idempotent_so_systems_apply_them_once():
    """Applied twice, climate_prefix prefixes twice: the ensemble and the system apply rules to the final
    union only (tests/test_extractor.py checks a system against one application)."""
    rules = RuleSet.build(["climate_prefix"])
    once = rules.apply("中南亚热带季风气候", {T("某地", "气候", "亚热带季风气候")})
    assert once == {T("某地", "气候", "南亚热带季风气候")}
    assert rules.apply("中南亚热带季风气候", once) == {T("某地", "气候", "中南亚热带季风气候")}


def test_rules_about_predicates_the_schema_lacks_are_no_ops():
    schema = Schema("lic2019", {"妻子": [("人物", "人物")], "丈夫": [("人物", "人物")]}, {})
    rules = RuleSet.build(["spouse_symmetry", "taxon_rank", "split_objects"], schema)
    assert rules.enabled == ("spouse_symmetry", "split_objects") and rules.inactive == ("taxon_rank",)
    assert "no-ops" in rules.describe() and "taxon_rank" in rules.describe()
    with pytest.raises(ValueError, match="unknown prediction rules"):
        RuleSet.build(["spouse"])
    # a schema with 妻子 but no 丈夫: the symmetric triple would be outside the schema, so it is not made
    wife_only = Schema("lic2019", {"妻子": [("人物", "人物")]}, {})
    assert RuleSet.build(["spouse_symmetry"], wife_only).apply("", {T("甲", "妻子", "乙")}) == {T("甲", "妻子", "乙")}


def test_config_switches_build_the_rule_set():
    off = config_from_dict(repo_params()).rules
    assert RuleSet.from_config(off.predictions).enabled == ()
    on = {name: True for name in PREDICTION_RULES}
    cfg = config_from_dict(repo_params({"rules": {"predictions": on}})).rules
    assert RuleSet.from_config(cfg.predictions).enabled == tuple(PREDICTION_RULES)
    assert set(f.name for f in dataclasses.fields(cfg.labels)) == set(LABEL_RULES)


def test_label_repair_on_a_raw_training_line():
    text = "《光辉岁月》是Beyond演唱的歌曲，收录于专辑《命运派对》"
    raw = {"text": text, "spo_list": [
        {"subject": "《光辉岁月》", "predicate": "歌手", "object": "Beyond"},
        {"subject": "光辉岁月", "predicate": "所属专辑", "object": "《命运派对》"},
        {"subject": "命运派对", "predicate": "歌手", "object": "Beyond"}]}
    fixed, counts = repair_labels(raw, text, ["title_marks", "album_songs"], "lic2019")
    assert [(s["subject"], s["predicate"], s["object"]) for s in fixed["spo_list"]] == [
        ("光辉岁月", "歌手", "Beyond"), ("光辉岁月", "所属专辑", "命运派对")]
    assert counts == {"title_marks": 2, "album_songs": 1}
    assert raw["spo_list"][0]["subject"] == "《光辉岁月》"                      # the input is not modified
    # a subject inside a title that occurs once becomes the whole title
    text = "电影《流浪地球2》上映"
    fixed, counts = repair_labels({"text": text, "spo_list": [{"subject": "流浪地球", "predicate": "上映时间",
                                                                "object": "2023"}]}, text, ["title_marks"], "lic2019")
    assert fixed["spo_list"][0]["subject"] == "流浪地球2" and counts == {"title_marks": 1}
    same, counts = repair_labels(raw, text, [], "lic2019")
    assert same is raw and counts == {}
    # DuIE: the object's @value
    duie = {"text": "x", "spo_list": [{"subject": "甲", "predicate": "作者", "object": {"@value": "《书》"}}]}
    fixed, _ = repair_labels(duie, "x", ["title_marks"], "duie2")
    assert fixed["spo_list"][0]["object"] == {"@value": "书"}
