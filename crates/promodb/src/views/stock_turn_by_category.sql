-- stock_turn_by_category: stock_turn summed per category (SKUs without a category form the
-- NULL row). Each ratio is a ratio of sums, NULL on a zero denominator:
-- stock_turn_units = units_sold / avg_on_hand, stock_turn_value = cogs / avg_stock_value,
-- sell_through = units_sold / (units_sold + ending_on_hand),
-- stockout_rate = stockout_intervals / snapshot_intervals.
WITH per_category AS (
    SELECT category,
           sum(units_sold) AS units_sold,
           sum(avg_on_hand) AS avg_on_hand,
           sum(ending_on_hand) AS ending_on_hand,
           sum(cogs) AS cogs,
           sum(avg_stock_value) AS avg_stock_value,
           sum(stockout_intervals) AS stockout_intervals,
           sum(snapshot_intervals) AS snapshot_intervals
    FROM stock_turn
    GROUP BY category
)
SELECT category,
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
FROM per_category
