-- KPIs per minute, gap-filled from the first order's minute to the last's (see
-- .promodb.sql), with ClickHouse's ORDER BY ... WITH FILL: filled minutes get the column
-- defaults, i.e. 0 for the sums and counts and NULL for the Nullable ratios.
SELECT toDateTime64(toStartOfMinute(ts), 6, 'UTC') AS minute,
       sum(amount) AS gmv,
       countDistinct(order_id) AS orders,
       countDistinct(user_id) AS buyers,
       sum(qty) AS units,
       toFloat64(sum(amount)) / nullIf(countDistinct(order_id), 0) AS aov,
       toFloat64(sum(amount)) / nullIf(countDistinct(user_id), 0) AS arpb
FROM orders
GROUP BY minute
ORDER BY minute WITH FILL STEP toIntervalMinute(1)
