-- stock_turn: per SKU with inventory snapshots, how fast its stock turned over the promo.
--   units_sold          sum(orders.qty)
--   avg_on_hand         average over snapshot times of on_hand summed over warehouses
--   ending_on_hand      current stock summed over warehouses (current_stock)
--   stock_turn_units    units_sold / avg_on_hand                 (NULL when avg_on_hand = 0)
--   cogs                units_sold * unit_cost
--   avg_stock_value     avg_on_hand * unit_cost
--   stock_turn_value    cogs / avg_stock_value                    (NULL when it is 0 or unknown)
--   sell_through        units_sold / (units_sold + ending_on_hand) (NULL when it is 0)
--   stockout_intervals  snapshots (sku, warehouse, ts) with on_hand <= 0
--   snapshot_intervals  all snapshots of the SKU
--   stockout_rate       stockout_intervals / snapshot_intervals
-- stock_turn_by_category adds these up per category.
WITH snapshots AS (
    -- The average over snapshot times of on_hand summed over warehouses is the sum of
    -- every snapshot row's on_hand over the number of snapshot times.
    SELECT sku_id,
           CAST(sum(on_hand) AS DOUBLE) / count(DISTINCT ts) AS avg_on_hand,
           count(*) FILTER (WHERE on_hand <= 0) AS stockout_intervals,
           count(*) AS snapshot_intervals
    FROM inventory
    GROUP BY sku_id
),
ending AS (
    SELECT sku_id, sum(on_hand) AS ending_on_hand
    FROM current_stock
    GROUP BY sku_id
),
sold AS (
    SELECT sku_id, sum(qty) AS units_sold
    FROM orders
    GROUP BY sku_id
),
per_sku AS (
    SELECT sn.sku_id,
           k.category,
           coalesce(so.units_sold, 0) AS units_sold,
           sn.avg_on_hand,
           e.ending_on_hand,
           coalesce(so.units_sold, 0) * k.unit_cost AS cogs,
           sn.avg_on_hand * CAST(k.unit_cost AS DOUBLE) AS avg_stock_value,
           sn.stockout_intervals,
           sn.snapshot_intervals
    FROM snapshots sn
    JOIN ending e ON e.sku_id = sn.sku_id
    LEFT JOIN sold so ON so.sku_id = sn.sku_id
    LEFT JOIN skus k ON k.sku_id = sn.sku_id
)
SELECT sku_id,
       category,
       units_sold,
       avg_on_hand,
       ending_on_hand,
       safe_div(units_sold, avg_on_hand) AS stock_turn_units,
       cogs,
       avg_stock_value,
       safe_div(cogs, avg_stock_value) AS stock_turn_value,
       safe_div(units_sold, units_sold + ending_on_hand) AS sell_through,
       stockout_intervals,
       snapshot_intervals,
       safe_div(stockout_intervals, snapshot_intervals) AS stockout_rate
FROM per_sku
