use super::*;
use crate::state::TaskState;
use crate::task::Real;
use proptest::prelude::*;
use serde_json::json;
use std::cell::Cell;
use std::rc::Rc;

fn refusal(r: Result<Rows, TaskError>) -> String {
    match r {
        Err(TaskError::Invalid { field, message }) => {
            assert_eq!(field, "rows", "{message}");
            message
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn strings(rows: &Rows, column: &str) -> Vec<String> {
    rows.rows
        .iter()
        .map(|r| cell_text(r.get(column)).into_owned())
        .collect()
}

fn task(output: Option<&str>, status: TaskState) -> Task {
    let mut t = Task::fresh(
        "row".into(),
        "p".into(),
        "mock".into(),
        "echo".into(),
        chrono::Utc::now(),
    );
    t.output = output.map(str::to_string);
    t.status = status;
    t
}

#[test]
fn a_lines_file_is_one_item_column_without_blank_lines_or_line_endings() {
    let rows = parse(
        RowSource::Lines,
        "\u{feff}first\r\n\r\n  \nsecond one\n\nthird\r",
    )
    .unwrap();
    assert_eq!(rows.columns, ["item"]);
    assert_eq!(strings(&rows, "item"), ["first", "second one", "third"]);
}

#[test]
fn an_input_with_no_rows_is_refused() {
    for source in [RowSource::Lines, RowSource::Jsonl, RowSource::Csv] {
        for text in ["", "\n \r\n\t\n", "\u{feff}"] {
            let m = refusal(parse(source, text));
            assert_eq!(
                m, "the file has no rows (blank lines are skipped)",
                "{source:?}"
            );
        }
    }
}

#[test]
fn a_csv_with_a_header_but_no_rows_is_refused() {
    for text in ["name,city", "name,city\r\n", "name,city\n\n\r\n"] {
        assert_eq!(
            refusal(parse(RowSource::Csv, text)),
            "the CSV file has a header but no rows"
        );
    }
}

#[test]
fn a_ragged_row_is_refused_naming_its_row_and_its_line() {
    // Row 2 spans two lines, so row 3 starts on line 5 of the file.
    let text = "name,city\nAnn,Paris\n\"Bob\nJr\",Rome\nCy,Oslo,extra\n";
    assert_eq!(
        refusal(parse(RowSource::Csv, text)),
        "row 3 (line 5 of the file; rows are counted from 1 after the header) has 3 fields, but the header has 2"
    );
    let m = refusal(parse(RowSource::Csv, "a,b,c\n1,2,3\nonly\n"));
    assert!(m.starts_with("row 2 (line 3 of the file;"), "{m}");
    assert!(m.ends_with("has 1 field, but the header has 3"), "{m}");
}

#[test]
fn an_empty_or_repeated_header_name_is_refused_naming_it() {
    assert_eq!(
        refusal(parse(RowSource::Csv, "name,  ,city\n1,2,3\n")),
        "column 2 of the CSV header has no name; every column needs one"
    );
    assert_eq!(
        refusal(parse(RowSource::Csv, "name,city, name\n1,2,3\n")),
        "the CSV header names the column 'name' twice (columns 1 and 3); each name must be different"
    );
}

#[test]
fn csv_cells_are_strings_as_written_and_header_names_are_trimmed() {
    let rows = parse(
        RowSource::Csv,
        "\u{feff} name , n\r\n\" Ann, \"\"A\"\"\",007\r\nBob,\r\n",
    )
    .unwrap();
    assert_eq!(rows.columns, ["name", "n"]);
    assert_eq!(rows.rows[0]["name"], json!(" Ann, \"A\""));
    assert_eq!(rows.rows[0]["n"], json!("007"));
    assert_eq!(rows.rows[1]["n"], json!(""));
    // Empty lines are skipped; a line of white space is a cell (as the csv
    // crate writes one) or, in a wider file, a ragged row.
    let rows = parse(RowSource::Csv, "\nq\n\n\"\"\n \t\nx\n").unwrap();
    assert_eq!(strings(&rows, "q"), ["", " \t", "x"]);
    let m = refusal(parse(RowSource::Csv, "a,b\n1,2\n  \n"));
    assert!(m.starts_with("row 2 (line 3 of the file;"), "{m}");
}

#[test]
fn a_jsonl_line_that_is_not_an_object_is_refused_naming_the_line() {
    let text = "{\"a\": 1}\n\n[1, 2]\n";
    assert_eq!(
        refusal(parse(RowSource::Jsonl, text)),
        "line 3 is not a JSON object: it is an array"
    );
    let m = refusal(parse(RowSource::Jsonl, "{\"a\": 1}\n{\"a\": }\n"));
    assert!(
        m.starts_with("line 2 is not a JSON object: expected value"),
        "{m}"
    );
    let m = refusal(parse(RowSource::Jsonl, "{\"a\": 1} {\"b\": 2}\n"));
    assert!(
        m.starts_with("line 1 is not a JSON object: trailing characters"),
        "{m}"
    );
    assert_eq!(
        refusal(parse(RowSource::Jsonl, "\"text\"")),
        "line 1 is not a JSON object: it is a string"
    );
}

#[test]
fn a_jsonl_file_of_empty_objects_is_refused() {
    assert_eq!(
        refusal(parse(RowSource::Jsonl, "{}\n{ }\n")),
        "every line of the file is an empty object ({}), so a prompt has nothing to name"
    );
}

#[test]
fn a_file_that_is_not_utf8_is_refused_naming_its_line() {
    assert_eq!(decode("\u{feff}a,b\n".as_bytes()).unwrap(), "\u{feff}a,b\n");
    let latin1 = b"name,city\nAnn,Paris\nZo\xeb,Li\xe8ge\n";
    assert_eq!(
        refusal(decode(latin1).map(|_| Rows {
            columns: vec![],
            rows: vec![]
        })),
        "line 3 of the file is not UTF-8 text; save the file as UTF-8 (in a spreadsheet: CSV UTF-8)"
    );
    let utf16 = [0xFF, 0xFE, b'a', 0];
    let m = refusal(decode(&utf16).map(|_| Rows {
        columns: vec![],
        rows: vec![],
    }));
    assert!(m.starts_with("the file is UTF-16 text"), "{m}");
}

#[test]
fn jsonl_columns_are_the_keys_in_first_seen_order_and_values_stay_json() {
    let text = "{\"zeta\": \"z\", \"alpha\": 1}\r\n{\"mid\": [1, {\"x\": null}], \"alpha\": 2}\n";
    let rows = parse(RowSource::Jsonl, text).unwrap();
    assert_eq!(rows.columns, ["zeta", "alpha", "mid"]);
    assert_eq!(rows.rows[1]["mid"], json!([1, {"x": null}]));
    assert!(!rows.rows[1].contains_key("zeta"));
    assert_eq!(strings(&rows, "zeta"), ["z", ""]);
    assert_eq!(strings(&rows, "mid"), ["", "[1,{\"x\":null}]"]);
}

#[test]
fn an_input_over_the_size_limit_is_refused_before_it_is_read() {
    assert_eq!(
        refusal(check_input_size(10_000_000_000).map(|_| Rows {
            columns: vec![],
            rows: vec![]
        })),
        "the file is 10.0 GB, over the limit of 256 MiB"
    );
    check_input_size(MAX_MAP_INPUT_BYTES).unwrap();
    let m = refusal(check_input_size(MAX_MAP_INPUT_BYTES + 1).map(|_| Rows {
        columns: vec![],
        rows: vec![],
    }));
    assert_eq!(m, "the file is 268.4 MB, over the limit of 256 MiB");
    // The text's length is checked first: a ragged file over the limit is
    // refused for its size, not read.
    let text = "a,b\n1,2,3\n";
    assert_eq!(
        refusal(parse_within(RowSource::Csv, text, 8, MAX_MAP_ROWS)),
        "the file is 10 bytes, over the limit of 8 bytes"
    );
    parse_within(RowSource::Lines, "1234567\n", 8, MAX_MAP_ROWS).unwrap();
}

#[test]
fn more_rows_than_a_map_takes_are_refused() {
    let mut text = "x\n".repeat(MAX_MAP_ROWS);
    assert_eq!(
        parse(RowSource::Lines, &text).unwrap().rows.len(),
        MAX_MAP_ROWS
    );
    text.push_str("one more\n");
    assert_eq!(
        refusal(parse(RowSource::Lines, &text)),
        "the file has more than 250,000 rows, the most one map takes; split it into several maps"
    );
    let csv = "h\n1\n2\n3\n";
    let m = refusal(parse_within(RowSource::Csv, csv, MAX_MAP_INPUT_BYTES, 2));
    assert!(m.starts_with("the file has more than 2 rows"), "{m}");
    let jsonl = "{\"a\": 1}\n{}\n{}\n";
    assert!(parse_within(RowSource::Jsonl, jsonl, MAX_MAP_INPUT_BYTES, 2).is_err());
    assert_eq!(
        parse_within(RowSource::Jsonl, jsonl, MAX_MAP_INPUT_BYTES, 3)
            .unwrap()
            .rows
            .len(),
        3
    );
}

#[test]
fn a_preview_reads_only_the_rows_it_shows_but_refuses_a_ragged_one_among_them() {
    let csv = "q,a\n1,x\n2,y\n3,z,ragged\n";
    let p = preview(RowSource::Csv, csv, 2).unwrap();
    assert_eq!(p.columns, ["q", "a"]);
    assert_eq!(strings(&p, "q"), ["1", "2"]);
    let m = refusal(preview(RowSource::Csv, csv, 3));
    assert!(m.starts_with("row 3 (line 4"), "{m}");
    // A JSONL line past the preview is not read.
    let jsonl = "{\"a\": 1}\n{\"b\": 2}\nnot json\n";
    let p = preview(RowSource::Jsonl, jsonl, 2).unwrap();
    assert_eq!(p.columns, ["a", "b"]);
    assert!(parse(RowSource::Jsonl, jsonl).is_err());
    // No rows shown, but the columns, and an input without rows refused.
    let p = preview(RowSource::Csv, csv, 0).unwrap();
    assert_eq!((p.columns.len(), p.rows.len()), (2, 0));
    assert_eq!(
        refusal(preview(RowSource::Csv, "q,a\n", 10)),
        "the CSV file has a header but no rows"
    );
    assert_eq!(
        preview(RowSource::Lines, "a\nb\n", 10).unwrap().rows.len(),
        2
    );
}

fn export(format: ResultFormat, rows: &Rows, tasks: &[Task]) -> String {
    let mut out = Vec::new();
    write_results(
        format,
        &rows.columns,
        rows.rows.iter().zip(tasks.iter()),
        &mut out,
    )
    .unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn quoted_and_multiline_cells_round_trip_through_parse_and_the_csv_export() {
    let text = "name,note\n\"Ann \"\"the\"\" 1st\",\"line one\nline two, with comma\"\r\n\"=1+1\",\" {{date}} \"\n";
    let rows = parse(RowSource::Csv, text).unwrap();
    let mut done = task(Some("Out, \"quoted\"\nsecond line"), TaskState::Completed);
    done.prompt_tokens = Some(12);
    done.completion_tokens = Some(30);
    done.cost_usd = Some(Real(0.00125));
    let mut failed = task(None, TaskState::Failed);
    failed.error = Some("the provider refused the key".into());
    let written = export(ResultFormat::Csv, &rows, &[done, failed]);

    let mut reader = csv::Reader::from_reader(written.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(
        header,
        [
            "name",
            "note",
            "output",
            "status",
            "error",
            "prompt_tokens",
            "completion_tokens",
            "cost_usd"
        ]
    );
    let records: Vec<Vec<String>> = reader
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect();
    assert_eq!(
        records,
        [
            vec![
                "Ann \"the\" 1st",
                "line one\nline two, with comma",
                "Out, \"quoted\"\nsecond line",
                "completed",
                "",
                "12",
                "30",
                "0.00125"
            ],
            vec![
                "=1+1",
                " {{date}} ",
                "",
                "failed",
                "the provider refused the key",
                "",
                "",
                ""
            ],
        ]
    );
    // And the export read as a map's input gives the same input cells back.
    let again = parse(RowSource::Csv, &written).unwrap();
    assert_eq!(strings(&again, "name"), strings(&rows, "name"));
    assert_eq!(strings(&again, "note"), strings(&rows, "note"));
}

#[test]
fn result_columns_that_clash_with_input_columns_get_a_result_prefix() {
    let rows = parse(RowSource::Csv, "output,status\na,b\n").unwrap();
    let written = export(
        ResultFormat::Csv,
        &rows,
        &[task(Some("answer"), TaskState::Completed)],
    );
    assert_eq!(
        written,
        "output,status,result_output,result_status,result_error,result_prompt_tokens,result_completion_tokens,result_cost_usd\na,b,answer,completed,,,,\n"
    );
    let names = result_names(&["cost_usd".into(), "result_output".into()]);
    assert_eq!(names[0], "result_result_output");
    assert_eq!(result_names(&["q".into()])[0], "output");
}

#[test]
fn jsonl_results_keep_the_input_values_in_order_and_add_output_json() {
    let rows = parse(
        RowSource::Jsonl,
        "{\"zeta\": 1, \"alpha\": {\"x\": [true]}}\n{\"alpha\": \"two\"}\n",
    )
    .unwrap();
    let mut structured = task(Some("{\"ok\":1}"), TaskState::Completed);
    structured.output_json = Some(json!({"ok": 1}));
    structured.cost_usd = Some(Real(0.5));
    let mut cancelled = task(None, TaskState::Cancelled);
    cancelled.cancel_reason = Some("cancelled by the user".into());
    let written = export(ResultFormat::Jsonl, &rows, &[structured, cancelled]);
    let lines: Vec<&str> = written.lines().collect();
    assert_eq!(
        lines,
        [
            r#"{"zeta":1,"alpha":{"x":[true]},"output":"{\"ok\":1}","status":"completed","error":null,"prompt_tokens":null,"completion_tokens":null,"cost_usd":0.5,"output_json":{"ok":1}}"#,
            r#"{"alpha":"two","output":null,"status":"cancelled","error":"cancelled by the user","prompt_tokens":null,"completion_tokens":null,"cost_usd":null}"#,
        ]
    );
    assert!(written.ends_with('\n'));
}

/// A writer that counts what reached it.
struct Counting(Rc<Cell<usize>>);

impl Write for Counting {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.set(self.0.get() + buf.len());
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn results_are_written_while_rows_are_still_being_read() {
    // 100,000 rows: by the last one, nearly everything before it has reached
    // the writer, so the export holds a buffer, not the file.
    const N: usize = 100_000;
    let row: Map<String, Value> = [("q".to_string(), json!("question text"))]
        .into_iter()
        .collect();
    let done = task(Some("an answer of some length"), TaskState::Completed);
    for format in [ResultFormat::Csv, ResultFormat::Jsonl] {
        let written = Rc::new(Cell::new(0));
        let at_last = Rc::new(Cell::new(0));
        let (w, a) = (written.clone(), at_last.clone());
        let rows = (0..N).map(|i| {
            if i == N - 1 {
                a.set(w.get());
            }
            (&row, &done)
        });
        write_results(format, &["q".into()], rows, Counting(written.clone())).unwrap();
        let total = written.get();
        assert!(total > 5_000_000, "{format:?}: {total}");
        assert!(
            total - at_last.get() < 64 * 1024,
            "{format:?}: {} of {total} bytes held back",
            total - at_last.get()
        );
    }
}

/// Column names a header can hold as read back: non-empty, no white space
/// at either end (names are trimmed), distinct.
fn header() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::hash_set("[a-zA-Z_][a-zA-Z0-9 _.,\"-]{0,8}[a-z]", 1..6)
        .prop_map(|names| names.into_iter().collect())
}

proptest! {
    #[test]
    fn any_csv_the_csv_crate_writes_parses_back_to_the_same_rows(
        (columns, cells) in header().prop_flat_map(|columns| {
            let width = columns.len();
            let cell = proptest::string::string_regex("(.|\n|\r|\"|,){0,12}").unwrap();
            (
                Just(columns),
                proptest::collection::vec(proptest::collection::vec(cell, width), 1..20),
            )
        })
    ) {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(&columns).unwrap();
        for row in &cells {
            w.write_record(row).unwrap();
        }
        let text = String::from_utf8(w.into_inner().unwrap()).unwrap();
        let rows = parse(RowSource::Csv, &text).unwrap();
        prop_assert_eq!(&rows.columns, &columns);
        let back: Vec<Vec<String>> = rows
            .rows
            .iter()
            .map(|r| columns.iter().map(|c| cell_text(r.get(c)).into_owned()).collect())
            .collect();
        prop_assert_eq!(back, cells);
    }
}
