"""How the suite decides what a server at $MONGODB_URI must be found to do."""

from __future__ import annotations

import pytest

from conftest import declared_capabilities, says_it_is_mongodb, with_database

# buildInfo as each server answers it (trimmed to the keys that matter here)
MONGODB = {"version": "7.0.14", "gitVersion": "ce59cfc6a3c5e5c067dca0d30697edd68d4f5188",
           "allocator": "tcmalloc", "javascriptEngine": "mozjs", "modules": [],
           "storageEngines": ["devnull", "wiredTiger"], "ok": 1.0}
FERRETDB_1 = {"version": "7.0.42", "gitVersion": "unknown", "modules": [],
              "ferretdbVersion": "v1.24.2", "ok": 1.0}
MONGO_JAVA_SERVER = {"version": "4.4.0", "versionArray": [4, 4, 0], "ok": 1.0}


@pytest.mark.parametrize("info,mongodb", [
    (MONGODB, True),
    (FERRETDB_1, False),
    ({**MONGODB, "ferretdbVersion": "v2.7.0"}, False),  # FerretDB dressed as MongoDB
    (MONGO_JAVA_SERVER, False),
    ({**MONGODB, "gitVersion": "unknown"}, False),
    ({k: v for k, v in MONGODB.items() if k != "allocator"}, False),
])
def test_only_mongodbs_own_build_info_says_mongodb(info, mongodb):
    assert says_it_is_mongodb(info) is mongodb


@pytest.mark.parametrize("value,expected", [
    ("", set()),
    (" , ", set()),
    ("atomic,text,group", {"atomic_updates", "text_search", "group_accumulators"}),
    ("atomic,ne", {"atomic_updates", "ne_through_arrays"}),
    ("atomic, group_accumulators", {"atomic_updates", "group_accumulators"}),
])
def test_roleplay_expect_names_capabilities(value, expected):
    assert declared_capabilities(value) == expected


@pytest.mark.parametrize("value", ["atomc", "text,$where", "transactions"])
def test_an_unknown_name_in_roleplay_expect_is_refused_naming_it(value):
    with pytest.raises(pytest.UsageError, match="ROLEPLAY_EXPECT names"):
        declared_capabilities(value)


def test_the_suite_uses_only_test_databases():
    uri = "mongodb://u:p@h1:1,h2:2/prod?replicaSet=rs"
    assert with_database(uri, "roleplay_test_x") == "mongodb://u:p@h1:1,h2:2/roleplay_test_x?replicaSet=rs"
    with pytest.raises(RuntimeError, match="refusing to use 'prod'"):
        with_database(uri, "prod")
