"""The parser of MusiScene's published captions CSV and its paired JSON of YouTube ids."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from modeling.datasets import MusiSceneCSVError, parse_musiscene_csv, read_ytids

HEADER = "Music Caption 1,Music Caption 2,Video Caption,Mixtral Audio,Mixtral Video\n"
IDS = ["R3mcZxi-r9U", "gy6R280ZUMQ", "abc_DEF-123"]
ROWS = (
    'calm piano,"A calm piano piece, suitable for vlogs.",a man plays piano,'
    "Soft piano fills a room.,A quiet room.\n"
    # quotes, newline, empty MSI
    '"upbeat ""pop"" song","It has a\nmulti-line answer",people dance,Bright pop.,\n'
    ",,a car at night,,\n"
)


def write(tmp_path: Path, text: str, ids=IDS) -> tuple[Path, Path]:
    csv_path, json_path = tmp_path / "dataset.csv", tmp_path / "mullama_output1.json"
    csv_path.write_text(text, encoding="utf-8")
    json_path.write_text(json.dumps({k: {"pred": "x", "q": "Describe"} for k in ids}))
    return csv_path, json_path


def test_it_pairs_rows_with_the_jsons_ids_in_order(tmp_path: Path) -> None:
    rows = parse_musiscene_csv(*write(tmp_path, HEADER + ROWS))
    assert [r.ytid for r in rows] == IDS
    assert [r.line for r in rows] == [2, 3, 5]  # the second row spans lines 3-4
    first = rows[0]
    assert first.captions() == {
        "video": "a man plays piano",
        "music": "calm piano",
        "fusion": "Soft piano fills a room.",
        "msi": "A quiet room.",
        "music_context": "A calm piano piece, suitable for vlogs.",
    }
    assert (
        rows[1].music_caption == 'upbeat "pop" song'
        and rows[1].music_context_caption == "It has a\nmulti-line answer"
    )
    assert rows[1].msi_caption is None  # empty cells are allowed
    assert (rows[2].music_caption, rows[2].video_caption, rows[2].fusion_caption) == (
        None,
        "a car at night",
        None,
    )


def test_it_accepts_a_pandas_index_column_a_list_of_ids_and_open_files(tmp_path: Path) -> None:
    indexed = (
        ","
        + HEADER
        + "".join(f"{i}," + line + "\n" for i, line in enumerate(["a,b,c,d,e", "f,g,h,i,", ",,,,"]))
    )
    rows = parse_musiscene_csv(io.StringIO(indexed, newline=""), IDS)
    assert [(r.ytid, r.music_caption, r.msi_caption) for r in rows] == [
        (IDS[0], "a", "e"),
        (IDS[1], "f", None),
        (IDS[2], None, None),
    ]
    reordered = (
        "Video Caption,Music Caption 1,Music Caption 2,Mixtral Audio,Mixtral Video\nv,m,m2,f,s\n"
    )
    [row] = parse_musiscene_csv(io.StringIO(reordered), IDS[:1])
    assert (row.video_caption, row.music_caption) == ("v", "m")


def test_it_reports_every_malformed_row_with_its_line(tmp_path: Path) -> None:
    text = HEADER + ROWS + "one,two\n" + "a,b,c,d,e\n" + "a,b,c,d,e,f\n"
    with pytest.raises(MusiSceneCSVError) as err:
        parse_musiscene_csv(
            *write(tmp_path, text, IDS + ["aaaaaaaaaaa", "bbbbbbbbbbb", "ccccccccccc"])
        )
    assert [(e.line, e.message.split(",")[0]) for e in err.value.errors] == [
        (6, "2 cells"),
        (8, "6 cells"),
    ]
    assert "line 6: 2 cells, expected 5" in str(err.value) and "dataset.csv: 2 problems" in str(
        err.value
    )


def test_it_reports_a_broken_quote_with_its_line(tmp_path: Path) -> None:
    text = HEADER + 'a,b,c,d,e\n"a,b"x,c,d,e\n'
    with pytest.raises(MusiSceneCSVError, match="line 3: unreadable row"):
        parse_musiscene_csv(*write(tmp_path, text, IDS[:2]))


def test_it_refuses_a_row_count_that_does_not_match_the_ids(tmp_path: Path) -> None:
    with pytest.raises(MusiSceneCSVError, match="3 rows but 2 YouTube ids"):
        parse_musiscene_csv(*write(tmp_path, HEADER + ROWS, IDS[:2]))


def test_it_refuses_a_wrong_header(tmp_path: Path) -> None:
    with pytest.raises(
        MusiSceneCSVError, match=r"line 1: .*missing \['Mixtral Video'\]; unknown \['MSI'\]"
    ):
        parse_musiscene_csv(*write(tmp_path, HEADER.replace("Mixtral Video", "MSI") + ROWS))
    with pytest.raises(MusiSceneCSVError, match="empty"):
        parse_musiscene_csv(*write(tmp_path, ""))


def test_it_checks_the_paired_json(tmp_path: Path) -> None:
    bad = tmp_path / "ids.json"
    bad.write_text("{not json")
    with pytest.raises(MusiSceneCSVError, match="not valid JSON"):
        read_ytids(bad)
    with pytest.raises(MusiSceneCSVError, match="object keyed by YouTube id or a list"):
        read_ytids(b"42")
    with pytest.raises(
        MusiSceneCSVError, match=r"entry 2: 'short' is not an 11-character YouTube id"
    ):
        read_ytids(json.dumps(["R3mcZxi-r9U", "short"]).encode())
    with pytest.raises(MusiSceneCSVError, match="appears twice"):
        parse_musiscene_csv(io.StringIO(HEADER), ["R3mcZxi-r9U", "R3mcZxi-r9U"])
    assert read_ytids(json.dumps({"gy6R280ZUMQ": {}, "R3mcZxi-r9U": {}}).encode()) == [
        "gy6R280ZUMQ",
        "R3mcZxi-r9U",
    ]
