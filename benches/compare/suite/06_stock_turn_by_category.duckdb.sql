-- Stock turn per category (see .promodb.sql and the stock_turn / stock_turn_by_category
-- views): per SKU first, then ratios of sums per category.
WITH levels AS (
    SELECT sku_id, ts, sum(on_hand) AS on_hand FROM inventory GROUP BY sku_id, ts
),
snapshots AS (
    SELECT sku_id, avg(on_hand) AS avg_on_hand FROM levels GROUP BY sku_id
),
intervals AS (
    SELECT sku_id,
           count(*) FILTER (WHERE on_hand <= 0) AS stockout_intervals,
           count(*) AS snapshot_intervals
    FROM inventory
    GROUP BY sku_id
),
ending AS (
    SELECT sku_id, sum(on_hand) AS ending_on_hand
    FROM (SELECT sku_id, warehouse, arg_max(on_hand, ts) AS on_hand
          FROM inventory GROUP BY sku_id, warehouse)
    GROUP BY sku_id
),
sold AS (
    SELECT sku_id, sum(qty) AS units_sold FROM orders GROUP BY sku_id
),
per_sku AS (
    SELECT sn.sku_id,
           k.category,
           coalesce(so.units_sold, 0) AS units_sold,
           sn.avg_on_hand,
           e.ending_on_hand,
           coalesce(so.units_sold, 0) * k.unit_cost AS cogs,
           sn.avg_on_hand * CAST(k.unit_cost AS DOUBLE) AS avg_stock_value,
           i.stockout_intervals,
           i.snapshot_intervals
    FROM snapshots sn
    JOIN intervals i ON i.sku_id = sn.sku_id
    JOIN ending e ON e.sku_id = sn.sku_id
    LEFT JOIN sold so ON so.sku_id = sn.sku_id
    LEFT JOIN skus k ON k.sku_id = sn.sku_id
),
per_category AS (
    SELECT category,
           sum(units_sold) AS units_sold,
           sum(avg_on_hand) AS avg_on_hand,
           sum(ending_on_hand) AS ending_on_hand,
           sum(cogs) AS cogs,
           sum(avg_stock_value) AS avg_stock_value,
           sum(stockout_intervals) AS stockout_intervals,
           sum(snapshot_intervals) AS snapshot_intervals
    FROM per_sku
    GROUP BY category
)
SELECT category, units_sold, avg_on_hand, ending_on_hand,
       CAST(units_sold AS DOUBLE) / NULLIF(avg_on_hand, 0) AS stock_turn_units,
       cogs,
       avg_stock_value,
       CAST(cogs AS DOUBLE) / NULLIF(avg_stock_value, 0) AS stock_turn_value,
       CAST(units_sold AS DOUBLE) / NULLIF(CAST(units_sold + ending_on_hand AS DOUBLE), 0) AS sell_through,
       stockout_intervals,
       snapshot_intervals,
       CAST(stockout_intervals AS DOUBLE) / NULLIF(CAST(snapshot_intervals AS DOUBLE), 0) AS stockout_rate
FROM per_category
ORDER BY category NULLS LAST
