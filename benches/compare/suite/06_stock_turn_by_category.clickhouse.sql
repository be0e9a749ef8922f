-- Stock turn per category (see .promodb.sql): per SKU first, then ratios of sums per category.
WITH levels AS (
    SELECT sku_id, ts, sum(on_hand) AS level_on_hand FROM inventory GROUP BY sku_id, ts
),
snapshots AS (
    SELECT sku_id, avg(level_on_hand) AS sku_avg_on_hand FROM levels GROUP BY sku_id
),
intervals AS (
    SELECT sku_id,
           countIf(on_hand <= 0) AS sku_stockout_intervals,
           count() AS sku_snapshot_intervals
    FROM inventory
    GROUP BY sku_id
),
ending AS (
    SELECT sku_id, sum(current_on_hand) AS sku_ending_on_hand
    FROM (SELECT sku_id, warehouse, argMax(on_hand, ts) AS current_on_hand
          FROM inventory GROUP BY sku_id, warehouse)
    GROUP BY sku_id
),
sold AS (
    SELECT sku_id, sum(qty) AS sku_units_sold FROM orders GROUP BY sku_id
),
per_sku AS (
    SELECT sn.sku_id AS sku_id,
           k.category AS category,
           coalesce(so.sku_units_sold, 0) AS units,
           sn.sku_avg_on_hand AS avg_level,
           e.sku_ending_on_hand AS ending_level,
           coalesce(so.sku_units_sold, 0) * k.unit_cost AS sku_cogs,
           sn.sku_avg_on_hand * toFloat64(k.unit_cost) AS sku_stock_value,
           i.sku_stockout_intervals AS stockouts,
           i.sku_snapshot_intervals AS snapshots_n
    FROM snapshots sn
    JOIN intervals i ON i.sku_id = sn.sku_id
    JOIN ending e ON e.sku_id = sn.sku_id
    LEFT JOIN sold so ON so.sku_id = sn.sku_id
    LEFT JOIN skus k ON k.sku_id = sn.sku_id
),
per_category AS (
    SELECT category,
           sum(units) AS units_sold,
           sum(avg_level) AS avg_on_hand,
           sum(ending_level) AS ending_on_hand,
           sum(sku_cogs) AS cogs,
           sum(sku_stock_value) AS avg_stock_value,
           sum(stockouts) AS stockout_intervals,
           sum(snapshots_n) AS snapshot_intervals
    FROM per_sku
    GROUP BY category
)
SELECT category, units_sold, avg_on_hand, ending_on_hand,
       toFloat64(units_sold) / nullIf(avg_on_hand, 0) AS stock_turn_units,
       cogs,
       avg_stock_value,
       toFloat64(cogs) / nullIf(avg_stock_value, 0) AS stock_turn_value,
       toFloat64(units_sold) / nullIf(toFloat64(units_sold + ending_on_hand), 0) AS sell_through,
       stockout_intervals,
       snapshot_intervals,
       toFloat64(stockout_intervals) / nullIf(toFloat64(snapshot_intervals), 0) AS stockout_rate
FROM per_category
ORDER BY category NULLS LAST
SETTINGS join_use_nulls = 1
