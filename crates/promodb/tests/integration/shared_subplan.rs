//! An aggregation that a plan repeats (a view read twice) is computed once per execution
//! and gives the rows that computing it twice gives.

use promodb::PromoDb;

use crate::common::{all_rows, query, small_promo, table, write_parquet};

/// 05_stock_risk of the suite: stock_risk sums current_stock, and the query aggregates
/// current_stock again.
const STOCK_RISK: &str = "
    SELECT r.sku_id, r.on_hand, w.warehouses, r.sell_rate, r.minutes_to_stockout
    FROM stock_risk r
    JOIN (SELECT sku_id, count(*) FILTER (WHERE on_hand > 0) AS warehouses
          FROM current_stock GROUP BY sku_id) w ON w.sku_id = r.sku_id
    ORDER BY r.minutes_to_stockout NULLS LAST, r.sku_id";

fn plan_text(db: &PromoDb, sql: &str) -> String {
    table(&query(db, &format!("EXPLAIN {sql}")).unwrap())
}

#[test]
fn a_view_read_twice_is_aggregated_once_with_the_same_rows() {
    let db = small_promo();
    let plan = plan_text(&db, STOCK_RISK);
    assert_eq!(plan.matches("SharedSubplanExec").count(), 2, "{plan}");

    // The same query over a copy of current_stock in a plain table: nothing to share.
    let unshared = STOCK_RISK.replace("current_stock", "stock_copy").replace(
        "FROM stock_risk r",
        "FROM (SELECT st.sku_id, st.on_hand, r.sell_rate, r.minutes_to_stockout
               FROM (SELECT sku_id, sum(on_hand) AS on_hand FROM stock_copy GROUP BY sku_id) st
               JOIN stock_risk r ON r.sku_id = st.sku_id) r",
    );
    query(
        &db,
        "CREATE TABLE stock_copy AS SELECT * FROM current_stock",
    )
    .unwrap();
    assert!(!plan_text(&db, &unshared).contains("SharedSubplanExec"));
    let shared_rows = table(&query(&db, STOCK_RISK).unwrap());
    assert!(shared_rows.lines().count() > 6, "{shared_rows}");
    assert_eq!(shared_rows, table(&query(&db, &unshared).unwrap()));
}

#[test]
fn the_shared_aggregation_runs_once() {
    let db = small_promo();
    let analyzed = table(&query(&db, &format!("EXPLAIN ANALYZE {STOCK_RISK}")).unwrap());
    let partial_stock: Vec<&str> = analyzed
        .lines()
        .filter(|l| l.contains("mode=Partial") && l.contains("arg_max(inventory.on_hand"))
        .collect();
    assert_eq!(partial_stock.len(), 2, "{analyzed}");
    let ran = partial_stock
        .iter()
        .filter(|l| l.contains("output_rows="))
        .count();
    assert_eq!(ran, 1, "{analyzed}");
}

#[test]
fn aggregations_that_display_alike_over_different_data_are_not_shared() {
    let db = small_promo();
    // orders and payments start with the same columns, and each is one segment.
    let sql = "SELECT o.user_id, o.n AS orders, p.n AS payments
               FROM (SELECT user_id, count(*) AS n FROM orders GROUP BY user_id) o
               JOIN (SELECT user_id, count(*) AS n FROM payments GROUP BY user_id) p
                 ON p.user_id = o.user_id
               ORDER BY o.user_id";
    assert!(!plan_text(&db, sql).contains("SharedSubplanExec"));
    let separately = |t: &str| {
        table(
            &query(
                &db,
                &format!(
                    "SELECT user_id, count(*) AS n FROM {t} GROUP BY user_id ORDER BY user_id"
                ),
            )
            .unwrap(),
        )
    };
    assert_ne!(separately("orders"), separately("payments"));
    let joined = table(&query(&db, sql).unwrap());
    let mut checked = 0;
    for line in separately("orders")
        .lines()
        .filter(|l| l.starts_with("| "))
        .skip(1)
    {
        let user = line.split('|').nth(1).unwrap().trim();
        let orders = line.split('|').nth(2).unwrap().trim();
        let payments = separately("payments")
            .lines()
            .find(|l| l.split('|').nth(1).map(str::trim) == Some(user))
            .map(|l| l.split('|').nth(2).unwrap().trim().to_string());
        if let Some(payments) = payments {
            let row = format!("| {user} ");
            let found = joined
                .lines()
                .find(|l| l.starts_with(&row))
                .unwrap_or_default();
            let cells: Vec<&str> = found.split('|').map(str::trim).collect();
            assert_eq!(
                (cells[2], cells[3]),
                (orders, payments.as_str()),
                "{joined}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 3, "{joined}");

    // Scalar subqueries display alike whatever they compute.
    let sql = "SELECT count(*) AS n FROM orders WHERE qty >= (SELECT min(qty) FROM orders)
               UNION ALL
               SELECT count(*) AS n FROM orders WHERE qty >= (SELECT max(qty) FROM orders)";
    assert!(!plan_text(&db, sql).contains("SharedSubplanExec"));
    let above_min = table(
        &query(
            &db,
            "SELECT count(*) AS n FROM orders WHERE qty >= (SELECT min(qty) FROM orders)",
        )
        .unwrap(),
    );
    let at_max = table(
        &query(
            &db,
            "SELECT count(*) AS n FROM orders WHERE qty >= (SELECT max(qty) FROM orders)",
        )
        .unwrap(),
    );
    let both = table(&query(&db, &format!("SELECT n FROM ({sql}) ORDER BY n")).unwrap());
    let value = |t: &str| {
        t.lines()
            .nth(3)
            .unwrap()
            .trim_matches(['|', ' '])
            .to_string()
    };
    let mut expected = vec![
        value(&above_min).parse::<i64>().unwrap(),
        value(&at_max).parse().unwrap(),
    ];
    expected.sort_unstable();
    assert_ne!(expected[0], expected[1]);
    let got: Vec<i64> = both
        .lines()
        .skip(3)
        .filter(|l| l.starts_with('|'))
        .map(|l| l.trim_matches(['|', ' ']).parse().unwrap())
        .collect();
    assert_eq!(got, expected);

    // information_schema scans are not memory or Parquet scans: never shared.
    let sql = "SELECT count(*) FROM information_schema.tables
               UNION ALL SELECT count(*) FROM information_schema.views";
    assert!(!plan_text(&db, sql).contains("SharedSubplanExec"));
}

#[test]
fn volatile_aggregations_are_never_shared() {
    let db = small_promo();
    let sql = "SELECT a.x = b.x AS same
               FROM (SELECT max(qty * random()) AS x FROM orders) a,
                    (SELECT max(qty * random()) AS x FROM orders) b";
    assert!(!plan_text(&db, sql).contains("SharedSubplanExec"));
    // Deterministic twins are shared.
    let twins = sql.replace("qty * random()", "qty");
    assert_eq!(
        plan_text(&db, &twins).matches("SharedSubplanExec").count(),
        2
    );
    assert!(table(&query(&db, &twins).unwrap()).contains("true"));
}

#[test]
fn copies_read_one_result_across_partitions_and_threads() {
    let db = PromoDb::builder()
        .with_target_partitions(4)
        .in_memory()
        .unwrap();
    load_fixture_with_stock_copy(&db);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .build()
        .unwrap();
    let run = |sql: &str| table(&runtime.block_on(db.sql(sql)).unwrap());
    let expected = run(&STOCK_RISK.replace("current_stock", "stock_copy"));
    assert!(plan_text(&db, STOCK_RISK).contains("SharedSubplanExec"));
    for _ in 0..20 {
        assert_eq!(run(STOCK_RISK), expected);
    }
}

/// The small fixture in `db`, and a plain-table copy of its current stock.
fn load_fixture_with_stock_copy(db: &PromoDb) {
    for table in promodb::schema::Table::ALL {
        let path = crate::common::fixture(&format!("small/{}.csv", table.name()));
        db.load(table.name(), &path).unwrap();
    }
    query(db, "CREATE TABLE stock_copy AS SELECT * FROM current_stock").unwrap();
}

#[test]
fn parquet_scans_share_when_they_read_alike_and_csv_scans_never() {
    let dir = tempfile::tempdir().unwrap();
    let loaded = small_promo();
    let orders = all_rows(&loaded, promodb::schema::Table::Orders);
    let path = dir.path().join("orders.parquet");
    write_parquet(&path, &orders, 1024);
    let db = PromoDb::in_memory().unwrap();
    db.attach("orders", path.to_str().unwrap()).unwrap();

    let per_user = "(SELECT user_id, count(*) AS n, sum(qty) AS q FROM orders GROUP BY user_id)";
    let twice = format!(
        "SELECT a.user_id, a.n, a.q, b.n, b.q FROM {per_user} a JOIN {per_user} b ON a.user_id = b.user_id ORDER BY 1"
    );
    assert_eq!(
        plan_text(&db, &twice).matches("SharedSubplanExec").count(),
        2
    );
    assert_eq!(
        table(&query(&db, &twice).unwrap()),
        table(&query(&loaded, &twice).unwrap())
    );
    let filtered = per_user.replace("FROM orders", "FROM orders WHERE qty > 1");
    let different = format!(
        "SELECT a.user_id, a.n, a.q, b.n, b.q FROM {per_user} a JOIN {filtered} b ON a.user_id = b.user_id ORDER BY 1"
    );
    assert!(!plan_text(&db, &different).contains("SharedSubplanExec"));
    assert_eq!(
        table(&query(&db, &different).unwrap()),
        table(&query(&loaded, &different).unwrap())
    );

    // One CSV file read with two delimiters: the scans display alike, the rows differ.
    let csv = dir.path().join("pairs.csv");
    std::fs::write(&csv, "x;y,z\na;b,c\na;b,d\n").unwrap();
    let csv = csv.display();
    query(&db, &format!("CREATE EXTERNAL TABLE by_comma (x VARCHAR, y VARCHAR) STORED AS CSV LOCATION '{csv}' OPTIONS ('format.has_header' 'true', 'format.delimiter' ',')")).unwrap();
    query(&db, &format!("CREATE EXTERNAL TABLE by_semicolon (x VARCHAR, y VARCHAR) STORED AS CSV LOCATION '{csv}' OPTIONS ('format.has_header' 'true', 'format.delimiter' ';')")).unwrap();
    let sql = "SELECT 'comma' AS t, x, count(*) AS n FROM by_comma GROUP BY x
               UNION ALL SELECT 'semicolon', x, count(*) FROM by_semicolon GROUP BY x ORDER BY 1, 2";
    assert!(!plan_text(&db, sql).contains("SharedSubplanExec"));
    let result = table(&query(&db, sql).unwrap());
    assert!(result.contains("| comma     | a;b | 2 |"), "{result}");
    assert!(result.contains("| semicolon | a   | 2 |"), "{result}");
}
