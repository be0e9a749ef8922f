-- Stock turn per category (units and value basis), sell-through and stock-out rate, each a
-- ratio of sums over the category's SKUs; the built-in stock_turn_by_category view.
SELECT category, units_sold, avg_on_hand, ending_on_hand, stock_turn_units, cogs,
       avg_stock_value, stock_turn_value, sell_through, stockout_intervals,
       snapshot_intervals, stockout_rate
FROM stock_turn_by_category
ORDER BY category NULLS LAST
