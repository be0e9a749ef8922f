//! The `promodb` binary, run as scripts run it.

use std::path::PathBuf;
use std::process::{Command, Output};

fn fixture(relative: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/fixtures")
        .join(relative)
        .to_string_lossy()
        .into_owned()
}

fn promodb(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_promodb"))
        .args(args)
        .output()
        .expect("run promodb")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("utf-8 stdout")
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("utf-8 stderr")
}

#[test]
fn help_explains_the_sql_command() {
    let output = promodb(&["--help"]);
    assert!(output.status.success());
    assert!(stdout(&output).contains("sql"), "{}", stdout(&output));
    let output = promodb(&["sql", "--help"]);
    let help = stdout(&output);
    for flag in ["--load", "--format", "--file", "TABLE=PATH", "RFC 3339"] {
        assert!(help.contains(flag), "missing {flag} in:\n{help}");
    }
}

#[test]
fn csv_output_keeps_decimal_scale_utc_timestamps_and_empty_nulls() {
    let load = format!("orders={}", fixture("small/orders.csv"));
    let output = promodb(&[
        "sql",
        "--load",
        &load,
        "--format",
        "csv",
        "SELECT order_id, ts, amount, channel, qty * 1.5 AS x FROM orders \
         WHERE order_id IN (1001, 1005) ORDER BY order_id",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        "order_id,ts,amount,channel,x\n\
         1001,2026-11-11T00:00:05Z,499.00,live_stream,1.5\n\
         1005,2026-11-11T00:02:30Z,120.00,,4.5\n"
    );
}

#[test]
fn several_loads_several_statements_and_a_query_file() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("q.sql");
    std::fs::write(
        &script,
        "CREATE VIEW paid AS SELECT order_id FROM payments WHERE status = 'success';\n\
         SELECT count(DISTINCT o.order_id) AS paid_orders, sum(o.amount) AS gmv\n\
         FROM orders o JOIN paid p USING (order_id);\n",
    )
    .unwrap();
    let orders = format!("orders={}", fixture("small/orders.csv"));
    let payments = format!("payments={}", fixture("small/payments.csv"));
    let output = promodb(&[
        "sql",
        "--load",
        &orders,
        "--load",
        &payments,
        "--format",
        "csv",
        "--file",
        script.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "paid_orders,gmv\n7,2861.60\n");
}

#[test]
fn table_and_json_formats() {
    let load = format!("skus={}", fixture("small/skus.csv"));
    let sql = "SELECT sku_id, list_price FROM skus WHERE sku_id IN (4, 5) ORDER BY sku_id";
    let output = promodb(&["sql", "--load", &load, sql]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output).trim(),
        "+--------+------------+\n\
         | sku_id | list_price |\n\
         +--------+------------+\n\
         | 4      | 199.00     |\n\
         | 5      |            |\n\
         +--------+------------+"
    );
    let output = promodb(&["sql", "--load", &load, "--format", "json", sql]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].contains("\"sku_id\":4") && lines[0].contains("199.00"),
        "{}",
        lines[0]
    );
    assert!(lines[1].contains("\"sku_id\":5"), "{}", lines[1]);
}

#[test]
fn timing_prints_one_line_per_statement_on_stderr() {
    let load = format!("orders={}", fixture("small/orders.csv"));
    let output = promodb(&[
        "sql",
        "--load",
        &load,
        "--timing",
        "--repeat",
        "3",
        "--format",
        "csv",
        "CREATE VIEW v AS SELECT * FROM orders; SELECT count(*) AS n FROM v",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "n\n8\n");
    let timings: Vec<String> = stderr(&output).lines().map(str::to_string).collect();
    assert_eq!(timings.len(), 2, "{timings:?}");
    for line in &timings {
        let ms = line
            .strip_prefix("time: ")
            .and_then(|rest| rest.strip_suffix(" ms"))
            .unwrap_or_else(|| panic!("bad timing line {line:?}"));
        assert!(ms.parse::<f64>().is_ok(), "{line}");
    }
}

#[test]
fn run_on_each_line_runs_the_last_statement_once_per_line_of_stdin() {
    use std::io::Write;
    let load = format!("orders={}", fixture("small/orders.csv"));
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_promodb"))
        .args([
            "sql",
            "--load",
            &load,
            "--timing",
            "--run-on-each-line",
            "--format",
            "csv",
            "CREATE VIEW v AS SELECT * FROM orders; SELECT count(*) AS n FROM v",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start promodb");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"\n\n\n")
        .expect("write stdin");
    let output = child
        .wait_with_output()
        .expect("promodb ends when stdin ends");
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "n\n8\n");
    // Both statements once, then the query once per line.
    let timings: Vec<String> = stderr(&output).lines().map(str::to_string).collect();
    assert_eq!(timings.len(), 2 + 3, "{timings:?}");
    assert!(
        timings.iter().all(|line| line.starts_with("time: ")),
        "{timings:?}"
    );

    for refused in [
        vec!["sql", "--run-on-each-line", "SELECT 1"],
        vec![
            "sql",
            "--timing",
            "--repeat",
            "3",
            "--run-on-each-line",
            "SELECT 1",
        ],
        vec![
            "sql",
            "--timing",
            "--run-on-each-line",
            "CREATE VIEW w AS SELECT 1",
        ],
    ] {
        let output = promodb(&refused);
        assert!(!output.status.success(), "{refused:?}");
        assert_eq!(stderr(&output).lines().count(), 1, "{refused:?}");
    }
}

#[test]
fn every_error_is_one_line_on_stderr_and_a_failure_status() {
    let good = format!("orders={}", fixture("small/orders.csv"));
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["sql".into(), "SELEC 1".into()], "sql"),
        (
            vec![
                "sql".into(),
                "--load".into(),
                good.clone(),
                "SELECT * FROM nowhere".into(),
            ],
            "nowhere",
        ),
        (
            vec![
                "sql".into(),
                "--load".into(),
                format!("order={}", fixture("small/orders.csv")),
                "SELECT 1".into(),
            ],
            "unknown table 'order'",
        ),
        (
            vec![
                "sql".into(),
                "--load".into(),
                format!("orders={}", fixture("bad/orders_corrupt.parquet")),
                "SELECT 1".into(),
            ],
            "orders_corrupt.parquet",
        ),
        (
            vec![
                "sql".into(),
                "--load".into(),
                format!("orders={}", fixture("bad/orders_bad_ts.csv")),
                "SELECT 1".into(),
            ],
            "'yesterday' is not a timestamp",
        ),
        (
            vec![
                "sql".into(),
                "--load".into(),
                "orders".into(),
                "SELECT 1".into(),
            ],
            "TABLE=PATH",
        ),
        (vec!["sql".into()], "no SQL given"),
        (
            vec!["sql".into(), "--file".into(), "/no/such/query.sql".into()],
            "/no/such/query.sql",
        ),
    ];
    for (args, expected) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = promodb(&args);
        let err = stderr(&output);
        assert!(!output.status.success(), "{args:?} succeeded");
        assert_eq!(err.lines().count(), 1, "{args:?}: not one line:\n{err}");
        assert!(err.starts_with("error: "), "{args:?}: {err}");
        assert!(err.contains(expected), "{args:?}: {err}");
        assert!(stdout(&output).is_empty(), "{args:?} printed a result");
    }
}

#[test]
fn gen_writes_a_promo_that_sql_loads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("promo");
    let output = promodb(&[
        "gen",
        "--scale",
        "3000",
        "--seed",
        "9",
        "--out",
        out.to_str().unwrap(),
        "--format",
        "csv",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("user_events"),
        "{}",
        stderr(&output)
    );
    for file in [
        "orders.csv",
        "inventory.csv",
        "targets.csv",
        "incidents.csv",
        "last_year/orders.csv",
    ] {
        assert!(out.join(file).is_file(), "{file} missing");
    }
    let labels = std::fs::read_to_string(out.join("incidents.csv")).unwrap();
    assert!(
        labels.starts_with("kind,key,start,end\n") && labels.contains("payment_outage,wechat,"),
        "{labels}"
    );
    let orders = out.join("orders.csv");
    let load = format!("orders={}", orders.display());
    let output = promodb(&[
        "sql",
        "--load",
        &load,
        "--format",
        "csv",
        "SELECT count(*) > 0 AS some FROM orders",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "some\ntrue\n");
}

#[test]
fn gen_refuses_a_zero_scale_in_one_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = promodb(&["gen", "--scale", "0", "--out", dir.path().to_str().unwrap()]);
    assert!(!output.status.success());
    assert_eq!(stderr(&output).lines().count(), 1, "{}", stderr(&output));
}

/// Runs a command that must succeed; returns its stdout.
fn ok(args: &[&str]) -> String {
    let output = promodb(args);
    assert!(output.status.success(), "{args:?}: {}", stderr(&output));
    stdout(&output)
}

#[test]
fn load_and_sql_on_a_durable_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("db");
    let db = db.to_str().unwrap();
    let orders = format!("orders={}", fixture("small/orders.csv"));
    let output = promodb(&["load", "--db", db, &orders]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("into orders"),
        "{}",
        stderr(&output)
    );
    let count = "SELECT count(*) AS n FROM orders";
    let once = ok(&["sql", "--db", db, "--format", "csv", count]);
    // The rows are in Parquet files under the Hive layout, and a second load appends.
    assert!(std::path::Path::new(db).join("orders").is_dir());
    ok(&["load", "--db", db, &orders]);
    let twice = ok(&["sql", "--db", db, "--format", "csv", count]);
    let n = |text: &str| -> u64 { text.lines().nth(1).unwrap().parse().unwrap() };
    assert!(n(&once) > 0);
    assert_eq!(n(&twice), 2 * n(&once));
    // `sql --db --load` persists what it loads before running the query.
    ok(&["sql", "--db", db, "--load", &orders, count]);
    assert_eq!(
        n(&ok(&["sql", "--db", db, "--format", "csv", count])),
        3 * n(&once)
    );
}

#[test]
fn gen_writes_straight_into_a_database_and_sql_reads_extra_tables_in_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("db");
    let out = dir.path().join("files");
    let (db, out) = (db.to_str().unwrap(), out.to_str().unwrap());
    let output = promodb(&[
        "gen", "--scale", "3000", "--seed", "3", "--db", db, "--out", out,
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let from_db = ok(&[
        "sql",
        "--db",
        db,
        "--format",
        "csv",
        "SELECT count(*) AS n, sum(amount) AS gmv FROM orders",
    ]);
    let orders = format!("orders={out}/orders.parquet");
    let from_files = ok(&[
        "sql",
        "--load",
        &orders,
        "--format",
        "csv",
        "SELECT count(*) AS n, sum(amount) AS gmv FROM orders",
    ]);
    assert_eq!(from_db, from_files);
    let targets = format!("targets={out}/targets.parquet");
    let hours = ok(&[
        "sql",
        "--db",
        db,
        "--table",
        &targets,
        "--format",
        "csv",
        "SELECT count(*) > 0 AS some FROM targets",
    ]);
    assert_eq!(hours, "some\ntrue\n");
}

#[test]
fn attached_parquet_answers_as_loaded_parquet_and_not_with_a_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("files");
    let out = out.to_str().unwrap();
    ok(&["gen", "--scale", "3000", "--seed", "5", "--out", out]);
    let query = "SELECT minute, gmv, orders, buyers FROM kpi_minute ORDER BY minute";
    let run = |flag: &str| {
        ok(&[
            "sql",
            flag,
            &format!("orders={out}/orders.parquet"),
            "--format",
            "csv",
            query,
        ])
    };
    let loaded = run("--load");
    assert!(loaded.lines().count() > 10, "{loaded}");
    assert_eq!(run("--attach"), loaded);

    let db = dir.path().join("db");
    let output = promodb(&[
        "sql",
        "--db",
        db.to_str().unwrap(),
        "--attach",
        &format!("orders={out}/orders.parquet"),
        "SELECT 1",
    ]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("--attach"), "{}", stderr(&output));
}

#[test]
fn a_database_in_use_or_damaged_is_one_line_on_stderr() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db");
    let db = path.to_str().unwrap();
    {
        let _open = promodb::PromoDb::open(&path).expect("open");
        let output = promodb(&["sql", "--db", db, "SELECT 1"]);
        assert!(!output.status.success());
        let err = stderr(&output);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("in use"), "{err}");
    }
    ok(&[
        "load",
        "--db",
        db,
        &format!("orders={}", fixture("small/orders.csv")),
    ]);
    std::fs::remove_file(path.join("MANIFEST")).unwrap();
    let output = promodb(&["sql", "--db", db, "SELECT 1"]);
    assert!(!output.status.success());
    let err = stderr(&output);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("MANIFEST is missing"), "{err}");
}

#[test]
fn no_plan_cache_times_runs_that_each_plan_again() {
    let load = format!("orders={}", fixture("small/orders.csv"));
    let output = promodb(&[
        "sql",
        "--load",
        &load,
        "--timing",
        "--repeat",
        "3",
        "--no-plan-cache",
        "--format",
        "csv",
        "SELECT count(*) AS n FROM orders",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "n\n8\n");
    assert_eq!(stderr(&output).lines().count(), 1, "{}", stderr(&output));
    let refused = promodb(&["sql", "--no-plan-cache", "SELECT 1"]);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("required arguments"),
        "{}",
        stderr(&refused)
    );
}

#[test]
fn select_into_creates_its_table_once_under_repeat() {
    // It parses as a query but creates a table: not repeated, so no "already exists".
    let output = promodb(&[
        "sql",
        "--timing",
        "--repeat",
        "3",
        "--format",
        "csv",
        "SELECT 1 AS x INTO once; SELECT count(*) AS n FROM once",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "n\n1\n");
}
