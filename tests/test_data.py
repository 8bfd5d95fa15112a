import json

import pytest

from rnn_demo.data import DataError, read_dataset


def write(path, text: str | bytes):
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def test_csv_reads_title_and_description(tmp_path):
    f = write(tmp_path / "a.csv", '"3","Fears for T N pension","Unions say ""no"""\n"1","A","B"\n')
    ds = read_dataset(f)
    assert ds.texts == ['Fears for T N pension Unions say "no"', "A B"]
    assert ds.labels == [2, 0]
    assert ds.report.rows == 2 and not ds.report.skipped


@pytest.mark.parametrize("bad_line, problem", [
    ('"3","only two"', "expected 3 columns"),
    ('"5","t","d"', "out of range"),
    ('"x","t","d"', "not an integer"),
    ('"2"," ",""', "empty text"),
])
def test_csv_bad_row_names_file_and_line(tmp_path, bad_line, problem):
    f = write(tmp_path / "b.csv", f'"1","ok","fine"\n{bad_line}\n"2","ok","fine"\n')
    with pytest.raises(DataError, match=rf"b\.csv:2: .*{problem}"):
        read_dataset(f)


def test_undecodable_bytes_are_reported_with_line(tmp_path):
    f = write(tmp_path / "c.csv", b'"1","ok","fine"\n"1","ok","fine"\n"2","bad \xff byte","x"\n')
    with pytest.raises(DataError, match=r"c\.csv:3: undecodable"):
        read_dataset(f)


def test_skip_bad_counts_every_skipped_row(tmp_path):
    f = write(tmp_path / "d.csv", b'"1","ok","fine"\n"9","t","d"\n"2","bad \xff","x"\n\n"4","ok","x"\n')
    ds = read_dataset(f, skip_bad=True)
    assert ds.labels == [0, 3]
    assert [n for n, _ in ds.report.skipped] == [2, 3, 4]
    assert "3 bad rows skipped" in ds.report.summary()


def test_jsonl_reader_and_errors(tmp_path):
    rows = [{"label": 0, "text": "a b"}, {"label": 3, "text": "c"}]
    f = write(tmp_path / "e.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    ds = read_dataset(f)
    assert ds.texts == ["a b", "c"] and ds.labels == [0, 3]
    for bad, problem in [('{"label": 4, "text": "x"}', "out of range"), ('{"label": true, "text": "x"}', "not an integer"),
                         ('{"text": "x"}', '"label" and "text"'), ('{"label": 1, "text": ""}', "empty text"),
                         ('{"label": 1, "text": "x"', "invalid JSON")]:
        write(f, json.dumps(rows[0]) + "\n" + bad + "\n")
        with pytest.raises(DataError, match=rf"e\.jsonl:2: .*{problem}"):
            read_dataset(f)


def test_missing_file_and_unknown_format(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_dataset(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="unknown data format"):
        read_dataset(write(tmp_path / "x.txt", "a"))


def test_parquet_reader_and_bad_rows(tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    f = tmp_path / "p.parquet"
    pd.DataFrame({"label": [0, 3, 1], "text": ["a b", "c", "d"]}).to_parquet(f)
    ds = read_dataset(f)
    assert ds.texts == ["a b", "c", "d"] and ds.labels == [0, 3, 1]
    pd.DataFrame({"label": [0, 7, 1], "text": ["a", "b", ""]}).to_parquet(f)
    with pytest.raises(DataError, match=r"p\.parquet: row 2: label 7 out of range"):
        read_dataset(f)
    ds = read_dataset(f, skip_bad=True)
    assert ds.texts == ["a"] and [n for n, _ in ds.report.skipped] == [2, 3]
    pd.DataFrame({"title": ["x"]}).to_parquet(f)
    with pytest.raises(DataError, match="columns 'label' and 'text'"):
        read_dataset(f)
